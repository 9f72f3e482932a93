# ctypes binding: see engine/python

#!/usr/bin/python3
"""Writes the seed inputs of fuzz_element to corpus/element/ (run from
tests/fuzz/). The byte layout is described at the top of fuzz_element.c;
each seed reaches one area of the element so the fuzzer starts from there."""
import os
import struct

AUDIO, LEARN, META, MSGS, ST_FILE, ST_MISSING, HDIM, IVAL = 1, 2, 4, 8, 16, 32, 64, 128


def tensor(d, n, fr=False, extra=False, form=0):
    """caps bytes: form 0 well formed, 5 a bad dimensions string (n picks
    it), 6 an arbitrary string (n characters follow), 7 odd caps"""
    return bytes([form | (0x10 if fr else 0) | (0x20 if extra else 0), d // 4 - 1, n - 1])


def audio(ch_idx, rate_idx):
    return bytes([ch_idx | rate_idx << 3])


def push(nunits, how=0, flags=2 | 4 | 16, mode=0, seed=12345):
    return bytes([0, how, flags]) + struct.pack('<H', nunits) + bytes([mode]) + struct.pack('<I', seed)


def flush(reset=True):
    return bytes([4 | (0x40 if reset else 0)])


def segment(time=True, start=0, reverse=False):
    return bytes([5 | (0 if time else 0x80) | (0x40 if reverse else 0), start])


EOS = bytes([6])


def caps(capsbytes, is_audio=False):
    return bytes([7 | (0x80 if is_audio else 0)]) + capsbytes


def prop(which, v):
    return bytes([8, which, v])


RESET, LATENCY = bytes([9]), bytes([11])


def stream_start():
    return bytes([10])


def head(flags, lr=1, reset_on=1):
    return bytes([flags, lr, reset_on])


seeds = {
    'tensor-d64-meta-eos': head(LEARN | META | MSGS) + tensor(64, 4, fr=True)
    + push(4) + push(4, mode=2) + push(8, mode=1) + flush() + push(2) + EOS,
    'tensor-bad-sizes': head(LEARN | MSGS) + tensor(16, 2)
    + push(100, how=2) + push(3, how=3) + push(7, how=1) + push(2) + push(0),
    'tensor-specials-readonly': head(LEARN | META | IVAL, lr=255, reset_on=15) + tensor(32, 8) + bytes([3])
    + push(8, mode=2, flags=1 | 8) + push(8, mode=3) + push(8, mode=3 | 4 * 4) + push(8, mode=2, flags=1),
    'tensor-width-change': head(LEARN | MSGS) + tensor(16, 4) + push(4)
    + caps(tensor(32, 2)) + push(2) + caps(tensor(32, 2)) + push(2) + EOS,
    'tensor-bad-dims': head(LEARN) + tensor(16, 3, form=5) + push(3)
    + caps(tensor(16, 12, form=5)) + push(1) + caps(tensor(16, 5, form=7)) + push(1)
    + caps(tensor(16, 1)) + push(1),
    'tensor-dims-string': head(LEARN) + tensor(16, 5, form=6) + b'\x01\x06\x0a\x01\x03'
    + push(1) + push(2, how=1),
    'tensor-hidden-dim': head(LEARN | HDIM) + tensor(64, 1) + push(1)
    + prop(7, 12) + caps(tensor(16, 1)) + push(1),
    'tensor-state-corrupt': head(LEARN | ST_FILE) + tensor(16, 1)
    + struct.pack('<H', 80) + b'\x00BTTTSTAT\x01\x00\x00\x00\x10' + bytes(66) + push(1) + EOS,
    'tensor-state-missing-dir': head(LEARN | ST_MISSING) + tensor(16, 2) + push(2) + EOS,
    'tensor-props-events': head(LEARN | MSGS) + tensor(16, 4) + push(4)
    + prop(0, 200) + push(4) + prop(1, 0) + push(4) + RESET + push(4) + prop(2, 15)
    + push(4, flags=1) + stream_start() + push(4) + segment(time=False) + push(4)
    + segment(reverse=True, start=9) + push(4) + prop(3, 1) + push(4) + prop(4, 0)
    + prop(5, 3) + prop(8, 0) + LATENCY + flush(reset=False) + push(4) + EOS + push(4),
    'audio-mono-fpt16': head(AUDIO | LEARN | MSGS, reset_on=0x51) + audio(0, 0)
    + push(1, how=1) + push(7, how=1) + push(100, how=1) + push(33, how=0)
    + LATENCY + flush() + push(64) + EOS,
    'audio-format-changes': head(AUDIO | LEARN | META, reset_on=0x11) + audio(1, 3)
    + push(10) + caps(audio(1, 2), is_audio=True) + push(5) + caps(audio(2, 3), is_audio=True)
    + push(9) + prop(6, 7) + caps(audio(1, 3), is_audio=True) + push(30) + EOS,
    'audio-bad-caps': head(AUDIO | LEARN, reset_on=0x21) + audio(4, 0) + push(3, how=1)
    + caps(audio(6, 0), is_audio=True) + push(1) + caps(audio(0, 4), is_audio=True) + push(1)
    + caps(bytes([0x40]), is_audio=True) + push(1) + caps(audio(1, 1), is_audio=True) + push(3, how=2),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'element')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

#!/bin/bash
# The DLLs a Windows DLL imports must all be part of Windows itself.
#   check_imports.sh OBJDUMP DLL
set -eu
objdump=$1 dll=$2
imports=$("$objdump" -p "$dll" | sed -n 's/^\tDLL Name: //p' | sort -f)
echo "imports:" $imports
foreign=$(echo "$imports" | grep -viE '^(kernel32|msvcrt|ucrtbase|api-ms-win-.*|advapi32|user32|ntdll)\.dll$' || true)
if [ -n "$foreign" ]; then
    echo "not a system DLL:" $foreign
    exit 1
fi

#!/bin/bash
# Checks a Windows DLL needs nothing the test run under wine would not notice:
#   check_dll.sh OBJDUMP DLL
# - it imports system DLLs only (under wine the MinGW directories are on the
#   search path, so a missing libwinpthread-1.dll would go unseen);
# - no aligned 32/64-byte vector access to the stack: Win64 aligns the stack
#   to 16 bytes only and GCC for MinGW does not realign it (GCC bug 54412),
#   so such a move faults on some call paths and not others.
set -eu
objdump=$1 dll=$2
imports=$("$objdump" -p "$dll" | sed -n 's/^\tDLL Name: //p' | sort -f)
echo "imports:" $imports
foreign=$(echo "$imports" | grep -viE '^(kernel32|msvcrt|ucrtbase|api-ms-win-.*|advapi32|user32|ntdll)\.dll$' || true)
status=0
if [ -n "$foreign" ]; then
    echo "not a system DLL:" $foreign
    status=1
fi
aligned=$("$objdump" -d --no-show-raw-insn "$dll" |
    grep -E 'vmov(aps|apd|dqa|dqa32|dqa64|ntps|ntpd|ntdq)[[:space:]].*%[yz]mm.*\(%r[sb]p\)|vmov(aps|apd|dqa|dqa32|dqa64)[[:space:]].*\(%r[sb]p\).*%[yz]mm' || true)
if [ -n "$aligned" ]; then
    echo "aligned vector moves against the stack:"
    echo "$aligned"
    status=1
else
    echo "no aligned 32/64-byte stack access"
fi
exit $status

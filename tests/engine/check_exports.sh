#!/bin/bash
# The dynamic symbols libbitttt defines must be exactly the functions its
# public header declares with TTT_API: nothing internal leaks, nothing is lost.
# A Windows DLL (third argument: its objdump) is checked by its export table.
set -eu
lib=$1 header=$2 objdump=${3:-}
if [ -n "$objdump" ]; then
    exported=$("$objdump" -p "$lib" | sed -n '/^\[Ordinal\/Name Pointer\] Table/,/^$/s/^\t\[ *[0-9]*\] //p' | sort)
else
    exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
fi
declared=$(sed -n 's/^TTT_API .*[ *]\(ttt_[a-z0-9_]*\)(.*/\1/p' "$header" | sort)
if [ "$exported" = "$declared" ]; then
    echo "exports match the header: $(echo "$declared" | wc -l) functions"
    exit 0
fi
echo "exports differ from the header (< exported, > declared):"
diff <(echo "$exported") <(echo "$declared") || true
exit 1

#!/bin/sh
# Compare the built library's ABI with the committed baseline (abigail-tools).
# Additions are allowed within a SONAME; anything incompatible fails.
# Regenerate the baseline only when a new ABI is declared:
#   abidw --headers-dir include/uavmail --headers-dir build/include/uavmail \
#         --out-file test/abi/uavmail.abi build/lib/libuavmail.so
set -u
lib=$1; baseline=$2; srcinc=$3; buildinc=$4; supp=$5
if ! command -v abidw >/dev/null 2>&1; then
    echo "abigail-tools not installed"; exit 77
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
abidw --headers-dir "$srcinc" --headers-dir "$buildinc" --out-file "$tmp" "$lib" || exit 1
abidiff --suppressions "$supp" --headers-dir1 "$srcinc" --headers-dir2 "$srcinc" "$baseline" "$tmp"
rc=$?
# Bits: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [ $((rc & 11)) -ne 0 ]; then
    echo "abidiff: incompatible ABI change or error (status $rc)"; exit 1
fi
[ $((rc & 4)) -ne 0 ] && echo "abidiff: compatible additions (ok within this SONAME)"
exit 0

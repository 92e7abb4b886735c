#!/bin/sh
# Compare the built library's ABI with the committed baseline (abigail-tools):
#  - abidiff: no symbol removed or changed (additions are allowed within a SONAME);
#  - check_layout.py: public structs only grow at the end.
# One baseline per library, from the last release that changed the SONAME (0.3.0: libuavmail.so.1
# and libuavmail-flight.so.1; 0.1.0's libuavmail.so.0 baseline is test/abi/uavmail.abi in git up to
# commit 9e2158a).
# Regenerate them only when a release is made, from that release's default build:
#   for l in uavmail uavmail-flight; do
#     abidw --headers-dir include/uavmail --headers-dir build/include/uavmail \
#           --out-file test/abi/$l.abi build/lib/lib$l.so; done
set -u
lib=$1; baseline=$2; srcinc=$3; buildinc=$4; supp=$5; layout=$6
if ! command -v abidw >/dev/null 2>&1; then
    echo "abigail-tools not installed"; exit 77
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
abidw --headers-dir "$srcinc" --headers-dir "$buildinc" --out-file "$tmp" "$lib" || exit 1
abidiff --no-added-syms --suppressions "$supp" "$baseline" "$tmp"
rc=$?
if [ $rc -ne 0 ]; then
    echo "abidiff: ABI changed incompatibly (status $rc)"; exit 1
fi
/usr/bin/python3 "$layout" "$baseline" "$tmp" || exit 1
echo "ABI compatible with the baseline"

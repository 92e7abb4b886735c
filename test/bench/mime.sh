#!/bin/sh
# MIME benchmarks (README "Performance"): base64 speed and rendering memory.
# usage: test/bench/mime.sh [BUILD_DIR]
set -eu
b=${1:-build}
ninja -C "$b" test/bench/bench_mime >/dev/null
"$b/test/bench/bench_mime" base64
for size in 1024 1048576 104857600; do
    "$b/test/bench/bench_mime" render $size   # one process per size: max RSS is per process
done

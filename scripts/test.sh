#!/bin/sh
# README command 2: install what is missing, then run every test suite:
#   1. the normal build: unit, protocol, abi, e2e (aiosmtpd over TLS) and
#      interop (real Postfix + Dovecot; needs root, skipped otherwise)
#   2. unit and protocol suites under valgrind
#   3. an AddressSanitizer + UndefinedBehaviorSanitizer build: unit, protocol, e2e, fuzz corpora
#   4. every libFuzzer target for FUZZ_SECONDS (default 60) when clang is available
#   5. scripts/cross.sh: aarch64 (qemu), i686, Windows (wine) suites and the footprint targets
# Ends with one line "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

logs="$top/test-output"
rm -rf "$logs"
mkdir -p "$logs"
status=0

run() { # name, build dir, meson test args...
    name=$1; dir=$2; shift 2
    echo "== $name"
    rm -f "$dir"/meson-logs/testlog*.json
    meson test -C "$dir" --print-errorlogs "$@" > "$logs/$name.txt" 2>&1 || status=1
    grep -E '^ *[0-9]+/[0-9]+ ' "$logs/$name.txt" | sed 's/^/  /'
    cat "$dir"/meson-logs/testlog*.json > "$logs/$name.json" 2>/dev/null
}

export LC_ALL=C.UTF-8
[ -d build ] || meson setup build >/dev/null || status=1
ninja -C build > "$logs/build.txt" 2>&1 || { cat "$logs/build.txt"; status=1; }
run main build

run valgrind build --suite unit \
    --wrap='valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite'

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug > "$logs/setup-asan.txt" 2>&1 || status=1
ninja -C build-asan > "$logs/build-asan.txt" 2>&1 || { cat "$logs/build-asan.txt"; status=1; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run asan build-asan --suite unit --suite e2e --suite fuzz

# libFuzzer runs (clang): each target for FUZZ_SECONDS on a copy of its corpus.
if command -v clang >/dev/null 2>&1; then
    echo "== fuzz (${FUZZ_SECONDS:-60} s per target)"
    [ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false \
        > "$logs/setup-fuzz.txt" 2>&1 || status=1
    ninja -C build-fuzz > "$logs/build-fuzz.txt" 2>&1 || { cat "$logs/build-fuzz.txt"; status=1; }
    : > "$logs/fuzz.json"
    for f in build-fuzz/test/fuzz/fuzz-*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        name=${f##*/fuzz-}
        corpus=$(mktemp -d)
        cp test/fuzz/corpus/"$name"/* "$corpus"/
        if (cd "$logs" && "$top/$f" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=8192 \
                "$corpus" > "$logs/fuzz-$name.txt" 2>&1); then
            result=OK
        else
            result=FAIL; status=1
            tail -30 "$logs/fuzz-$name.txt"
        fi
        echo "  fuzz-$name $result ($(grep -o 'Done [0-9]* runs' "$logs/fuzz-$name.txt"))"
        echo "{\"name\": \"fuzz-$name\", \"result\": \"$result\"}" >> "$logs/fuzz.json"
        rm -rf "$corpus"
    done
fi

scripts/cross.sh "$logs" || status=1

/usr/bin/python3 - "$logs" <<'PY'
import json, sys, pathlib
p = f = s = 0
for log in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for line in log.read_text().splitlines():
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status

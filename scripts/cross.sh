#!/bin/sh
# Cross-platform suites (issue 9), called by scripts/test.sh and runnable alone:
#   scripts/cross.sh [LOG_DIR] [TARGET...]
# Targets (default: all):
#   aarch64  gcc-aarch64-linux-gnu build: unit, protocol, fuzz-corpus, loopback under qemu-user
#   i686     32-bit x86 build: the full unit suite, protocol, fuzz corpora, loopback (FZ-07)
#   win64    mingw-w64 build, full profile (mbedTLS and libcbor from Debian's source packages,
#            scripts/win64-deps.sh), unit + loopback suites under wine
#   footprint  scripts/footprint.sh --check: the size and heap targets of issue 9
# Each target writes LOG_DIR/cross-TARGET.json in meson's testlog format (one JSON object a
# line with "name" and "result"), so test.sh counts it; a missing tool gives SKIP, not FAIL.
# Builds are -Os without sanitizers to keep CI time small.  Exit status 1 if anything failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=${1:-$top/test-output}
[ $# -gt 0 ] && shift
targets=${*:-aarch64 i686 win64 footprint}
mkdir -p "$logs"
status=0

result() { # log file, test name, OK|FAIL|SKIP
    echo "{\"name\": \"$2\", \"result\": \"$3\"}" >> "$1"
}

have() {
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || { missing_tool=$t; return 1; }; done
}

# meson_suite NAME WRAPPER SETUP_ARGS TEST_ARGS...
meson_suite() {
    name=$1; wrapper=$2; setup=$3; shift 3
    dir=build-$name
    json="$logs/cross-$name.json"
    : > "$json"
    start=$(date +%s)
    if [ ! -d "$dir" ]; then
        # shellcheck disable=SC2086
        meson setup "$dir" -Dbuildtype=minsize $setup \
            > "$logs/cross-$name-setup.txt" 2>&1 || {
            tail -20 "$logs/cross-$name-setup.txt"; result "$json" "$name-setup" FAIL; status=1; return; }
    fi
    ninja -C "$dir" -j2 > "$logs/cross-$name-build.txt" 2>&1 || {
        grep -E 'error|FAILED' "$logs/cross-$name-build.txt" | head -30
        result "$json" "$name-build" FAIL; status=1; return; }
    rm -f "$dir"/meson-logs/testlog*.json
    UAVMAIL_EXE_WRAPPER=$wrapper meson test -C "$dir" --print-errorlogs "$@" \
        > "$logs/cross-$name.txt" 2>&1 || status=1
    grep -E '^ *[0-9]+/[0-9]+ ' "$logs/cross-$name.txt" | sed 's/^/  /'
    cat "$dir"/meson-logs/testlog*.json >> "$json" 2>/dev/null ||
        { result "$json" "$name-tests" FAIL; status=1; }
    echo "  ($name: $(( $(date +%s) - start )) s)"
}

for t in $targets; do
    echo "== cross $t"
    missing_tool=""
    case $t in
    aarch64)
        if ! have aarch64-linux-gnu-gcc qemu-aarch64; then :
        elif [ ! -f /usr/lib/aarch64-linux-gnu/libmbedtls.so ]; then missing_tool=libmbedtls-dev:arm64
        else
            meson_suite aarch64 qemu-aarch64 "--cross-file cross/aarch64-linux-gnu.ini" \
                --suite unit --suite protocol --suite fuzz --suite loopback --timeout-multiplier 3
        fi ;;
    i686)
        if ! have i686-linux-gnu-gcc; then :
        elif [ ! -f /usr/lib/i386-linux-gnu/libmbedtls.so ]; then missing_tool=libmbedtls-dev:i386
        else
            meson_suite i686 "" "--cross-file cross/i686-linux-gnu.ini" \
                --suite unit --suite protocol --suite fuzz --suite loopback
        fi ;;
    win64)
        if ! have x86_64-w64-mingw32-gcc wine; then :
        elif scripts/win64-deps.sh > "$logs/cross-win64-deps.txt" 2>&1; deps=$?; [ $deps -ne 0 ]; then
            tail -20 "$logs/cross-win64-deps.txt"
            if [ $deps -eq 2 ]; then  # the archive did not have a source: SKIP
                missing_tool="mbedTLS/libcbor Debian sources"
            else  # a build that failed: FAIL
                : > "$logs/cross-win64.json"
                result "$logs/cross-win64.json" "win64-deps" FAIL; status=1
            fi
        else
            # wine keeps its state in the build tree, finds uavmail.dll and uavmail-flight.dll through WINEPATH.
            export WINEPREFIX="$top/build-win64-deps/wine" WINEDEBUG=-all WINEPATH="$top/build-win64/lib"
            meson_suite win64 wine "--cross-file cross/x86_64-w64-mingw32.ini
                --cross-file build-win64-deps/paths.ini -Dprofile=full" \
                --suite unit --suite loopback --timeout-multiplier 4
        fi ;;
    footprint)
        : > "$logs/cross-footprint.json"
        scripts/footprint.sh --check "$logs/cross-footprint.json" > "$logs/cross-footprint.txt" 2>&1 || status=1
        cat "$logs/cross-footprint.txt" | sed 's/^/  /' ;;
    *)
        echo "unknown target $t" >&2; status=1 ;;
    esac
    if [ -n "$missing_tool" ]; then
        echo "  SKIP: $missing_tool not available (scripts/deps.sh test installs it)"
        : > "$logs/cross-$t.json"
        result "$logs/cross-$t.json" "cross-$t" SKIP
    fi
done
exit $status

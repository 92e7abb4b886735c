#!/bin/sh
# Outbox kill -9 torture in benchmark mode (issue 6, Q-10's kill-9 companion):
# 1,000 rounds of racing enqueue-and-deliver and flush processes killed at
# random points, against the real aiosmtpd server over STARTTLS with AUTH.
# usage: test/bench/torture.sh [BUILD_DIR] [ITERATIONS]
# Writes test/bench/results-torture.json; fails on any lost or corrupt message.
set -eu
b=$(cd "${1:-build}" && pwd)
n=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
ninja -C "$b" cli/uavmail >/dev/null
cd "$here/../e2e"
UAVMAIL_CLI="$b/cli/uavmail" UAVMAIL_TEST_TMP="$b/test/e2e" \
UAVMAIL_TORTURE_ITERATIONS="$n" UAVMAIL_TORTURE_JSON="$here/results-torture.json" \
PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 test_outbox.py Torture
cat "$here/results-torture.json"

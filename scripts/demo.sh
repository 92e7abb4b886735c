#!/bin/sh
# README command 1: build uavmail, start a local SMTP server on loopback
# (aiosmtpd, TLS with a test CA generated now, AUTH required), send a real
# flight report with attachments through it over STARTTLS + AUTH PLAIN, and
# show what arrived.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh demo
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

out="$top/demo-output"
rm -rf "$out"
mkdir -p "$out/mailbox" "$out/flight"
PY=/usr/bin/python3
$PY test/fixtures/testca.py "$out/pki" >/dev/null
subject=$($PY examples/demo/make_flight.py "$out/flight")

# The server stops when its stdin closes, so feed it from a FIFO we hold open.
export UAVMAIL_DEMO_PASSWORD="demo app password 7f3a"
mkfifo "$out/.stop"
$PY test/fixtures/smtp_server.py --store "$out/mailbox" --mode starttls \
    --cert "$out/pki/server-chain.pem" --key "$out/pki/server.key" \
    --user pilot@example.test --password-env UAVMAIL_DEMO_PASSWORD --require-auth \
    < "$out/.stop" > "$out/server.json" 2> "$out/server.log" &
exec 3> "$out/.stop"
trap 'exec 3>&-; wait; rm -f "$out/.stop"' EXIT
i=0
while [ ! -s "$out/server.json" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$out/server.json")

echo "== sending the flight report to the local server (localhost:$port, STARTTLS + AUTH)"
build/cli/uavmail send --server localhost --port "$port" --security starttls \
    --cafile "$out/pki/ca.pem" --user pilot@example.test --password-env UAVMAIL_DEMO_PASSWORD \
    --from "uav7@example.test" --to "fleet-ops@example.test" --subject "$subject" \
    --body-file "$out/flight/summary.txt" \
    --attach "$out/flight/flight-0042.csv" --attach "$out/flight/flight-0042.gpx" --trace

echo
echo "== what arrived"
$PY test/fixtures/mailcheck.py "$out/mailbox/0001.eml"
echo
echo "Delivered message saved to $out/mailbox/0001.eml"

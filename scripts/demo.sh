#!/bin/sh
# README command 1: build uavmail, start a local SMTP server on loopback
# (aiosmtpd, TLS with a test CA generated now, AUTH required), replay a
# recorded flight (examples/demo/uav7-flight.tlog: MAVLink frames from an
# ArduPilot-like vehicle, framed by node-mavlink) through the mavlink-notify
# bridge, which queues the alerts and the flight report (CSV, GPX, GeoJSON,
# CBOR) in an outbox and sends them over STARTTLS + AUTH PLAIN; then show
# what arrived.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh demo
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

out="$top/demo-output"
rm -rf "$out"
mkdir -p "$out/mailbox"
PY=/usr/bin/python3
$PY test/fixtures/testca.py "$out/pki" >/dev/null

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

cat > "$out/uav7.conf" <<EOF
# mavlink-notify configuration for the demo (docs/telemetry.md)
vehicle = UAV-7
from = uav7@example.test
to = fleet-ops@example.test
outbox = $out/outbox
formats = csv gpx geojson cbor
server = localhost
port = $port
security = starttls
cafile = $out/pki/ca.pem
user = pilot@example.test
channel = thermal degC
alert = hot_spot: thermal > 80 clear 70 severity warning text Hot spot {value} degC
EOF
export UAVMAIL_PASSWORD="$UAVMAIL_DEMO_PASSWORD"

echo "== replaying the flight through mavlink-notify, sending to localhost:$port (STARTTLS + AUTH)"
build/examples/mavlink-notify --config "$out/uav7.conf" --tlog examples/demo/uav7-flight.tlog \
    --flush

echo
echo "== what arrived"
$PY examples/demo/show.py "$out/mailbox"

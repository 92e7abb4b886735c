#!/usr/bin/python3
"""Synthesise one survey flight (1 Hz samples) and write what a flight
report carries: a CSV telemetry log, a GPX track and the text summary.
Deterministic, so the demo shows the same report every time.

usage: make_flight.py OUTDIR   (prints the report subject on stdout)
"""
import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HOME = (47.3977, 8.5456)          # lat, lon (deg)
START = datetime(2026, 11, 22, 14, 3, 0, tzinfo=timezone.utc)
DURATION_S = 18 * 60
R_EARTH = 6371000.0


def samples():
    lat0, lon0 = HOME
    volts, amps_sum = 16.8, 0.0
    for t in range(DURATION_S + 1):
        phase = t / DURATION_S
        if t < 60:                      # climb
            alt, speed = t * 1.0, 2.0 * t / 60
        elif t > DURATION_S - 60:       # descend and land
            alt, speed = (DURATION_S - t) * 1.0, 2.0
        else:
            alt, speed = 60.0, 8.0
        radius = 350.0 * math.sin(math.pi * phase)
        ang = 2 * math.pi * phase * 3
        north, east = radius * math.cos(ang), radius * math.sin(ang)
        lat = lat0 + math.degrees(north / R_EARTH)
        lon = lon0 + math.degrees(east / (R_EARTH * math.cos(math.radians(lat0))))
        amps = 2.0 if alt < 1 else 18.0 + 4.0 * math.sin(t / 30)
        amps_sum += amps
        volts = 16.8 - 2.2 * phase - 0.004 * amps
        yield {
            "time": START + timedelta(seconds=t), "lat": lat, "lon": lon,
            "alt_msl": 408.0 + alt, "alt_rel": alt, "speed": speed,
            "heading": (math.degrees(ang) + 90) % 360, "volts": volts, "amps": amps,
            "mah": amps_sum / 3.6, "sats": 17 if 300 < t < 330 else 19, "hdop": 0.7,
            "mode": "MISSION" if 60 <= t <= DURATION_S - 60 else "AUTO",
        }


def dist(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(h))


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = list(samples())
    with open(out / "flight-0042.csv", "w", newline="") as f:
        f.write("time_utc,lat_deg,lon_deg,alt_msl_m,alt_rel_m,groundspeed_m_s,heading_deg,"
                "battery_v,battery_a,used_mah,satellites,hdop,mode\r\n")
        for x in s:
            f.write(f"{x['time']:%Y-%m-%dT%H:%M:%SZ},{x['lat']:.7f},{x['lon']:.7f},"
                    f"{x['alt_msl']:.1f},{x['alt_rel']:.1f},{x['speed']:.1f},{x['heading']:.0f},"
                    f"{x['volts']:.2f},{x['amps']:.1f},{x['mah']:.0f},{x['sats']},{x['hdop']},"
                    f"{x['mode']}\r\n")
    with open(out / "flight-0042.gpx", "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="uavmail demo" '
                'xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>UAV-7 flight 0042</name><trkseg>\n')
        for x in s:
            f.write(f'<trkpt lat="{x["lat"]:.7f}" lon="{x["lon"]:.7f}"><ele>{x["alt_msl"]:.1f}</ele>'
                    f'<time>{x["time"]:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>\n')
        f.write("</trkseg></trk>\n</gpx>\n")
    km = sum(dist(a, b) for a, b in zip(s, s[1:])) / 1000
    minutes = DURATION_S // 60
    summary = (
        f"Flight report - UAV-7, flight 0042\n"
        f"==================================\n\n"
        f"Take-off      {s[0]['time']:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Landing       {s[-1]['time']:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Duration      {minutes} min\n"
        f"Distance      {km:.1f} km\n"
        f"Max altitude  {max(x['alt_rel'] for x in s):.0f} m above home\n"
        f"Max speed     {max(x['speed'] for x in s):.1f} m/s\n"
        f"Battery       {s[0]['volts']:.2f} V -> {s[-1]['volts']:.2f} V "
        f"(min {min(x['volts'] for x in s):.2f} V), {s[-1]['mah']:.0f} mAh used\n"
        f"GPS           min {min(x['sats'] for x in s)} satellites, HDOP {s[0]['hdop']}\n"
        f"Home          {HOME[0]:.5f}, {HOME[1]:.5f}\n\n"
        f"Warnings: none.\n\n"
        f"Attached: flight-0042.csv (telemetry, 1 Hz), flight-0042.gpx (track).\n"
    )
    (out / "summary.txt").write_text(summary)
    print(f"[UAV-7] Flight report {s[0]['time']:%Y-%m-%d %H:%MZ}, {minutes} min, {km:.1f} km")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

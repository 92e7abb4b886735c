"""The C side of the struct-layout checks: compiles a few lines of C against the
real headers and returns sizeof and offsetof of every field of the structs the
bindings declare by hand (telemetry.h, alert.h).  None when no C compiler."""
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

STRUCTS = {
    "uavmail_sample": ["version", "time_us", "lat", "lon", "alt_msl", "alt_rel", "ground_speed",
                       "climb", "heading", "voltage", "current", "remaining", "hdop", "fix_type",
                       "satellites", "armed", "in_air", "mode", "custom", "custom_count"],
    "uavmail_telemetry_options": ["version", "vehicle", "memory_samples", "spill_dir",
                                  "allocator"],
    "uavmail_flight_summary": [
        "version", "samples", "start_us", "end_us", "takeoff_us", "landing_us", "duration_s",
        "air_time_s", "distance_m", "max_alt_rel_m", "max_alt_msl_m", "max_speed_mps",
        "battery_start_v", "battery_end_v", "battery_min_v", "battery_start_pct",
        "battery_end_pct", "charge_mah", "energy_wh", "min_satellites", "max_hdop", "no_fix_s",
        "fix_losses", "home_lat", "home_lon", "home_alt_msl", "land_lat", "land_lon",
        "land_home_m", "events", "warnings", "flags"],
    "uavmail_report_options": ["version", "formats", "raw_log", "raw_log_cap", "flags", "notes"],
    "uavmail_alert_rule": ["version", "key", "source", "op", "trigger", "clear", "hold_s",
                           "repeat_s", "severity", "text"],
    "uavmail_alert": ["key", "text", "severity", "value", "time_us", "suppressed", "digest"],
    "uavmail_alerts_options": ["version", "repeat_s", "cb", "user_data", "allocator"],
}


def c_layouts():
    """{struct: {"sizeof": n, field: offset, ...}} from the C compiler, or None."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <uavmail/uavmail.h>",
             "int main(void) {", 'printf("{");']
    for i, (st, fields) in enumerate(STRUCTS.items()):
        lines.append('printf("%s\\"%s\\": {\\"sizeof\\": %%zu", sizeof(%s));'
                     % ("," if i else "", st, st))
        for f in fields:
            lines.append('printf(", \\"%s\\": %%zu", offsetof(%s, %s));' % (f, st, f))
        lines.append('printf("}");')
    lines += ['printf("}\\n");', "return 0; }"]
    inc = [f"-I{d}" for d in os.environ.get("UAVMAIL_INCDIRS", "").split(":") if d]
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "layout.c", Path(d) / "layout"
        src.write_text("\n".join(lines) + "\n")
        r = subprocess.run([cc] + inc + [str(src), "-o", str(exe)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("layout probe does not compile:\n" + r.stderr)
        return json.loads(subprocess.run([str(exe)], capture_output=True, text=True,
                                         check=True).stdout)

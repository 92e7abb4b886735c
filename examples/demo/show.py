#!/usr/bin/python3
"""Show what the demo's server received: every subject, then the flight
report's MIME tree (test/fixtures/mailcheck.py) and its text body."""
import email
import email.policy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "test" / "fixtures"))
import mailcheck  # noqa: E402

store = Path(sys.argv[1])
msgs = [(p, mailcheck.parse(p)) for p in sorted(store.glob("*.eml"))]
print(f"{len(msgs)} messages:")
for _, m in msgs:
    print("  " + str(m["Subject"]))
reports = [(p, m) for p, m in msgs if "Flight report" in str(m["Subject"])]
if not reports:
    sys.exit("no flight report arrived")
path, report = reports[0]
print()
mailcheck.main([str(path)])
print()
print(report.get_body(("plain",)).get_content())
print(f"Delivered messages are in {store}/ (the report: {path.name})")

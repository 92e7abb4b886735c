#!/usr/bin/python3
"""ABI consistency: exported symbols == linker map == public declarations,
every exported symbol starts with uavmail_, and ABI.md lists every symbol
and every error code (STYLE 14-15)."""
import re
import subprocess
import sys
from pathlib import Path


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "TDBRVWiu" and parts[1] != "A":
            syms.add(parts[2].split("@")[0])
    return syms


def in_map(path):
    text = re.sub(r"/\*.*?\*/", "", Path(path).read_text(), flags=re.S)
    syms = set()
    # A node ends at "local:" or at "};" / "} PARENT;" (a later node).
    for block in re.findall(r"global:(.*?)(?:local:|\}\s*[\w.]*\s*;)", text, flags=re.S):
        syms |= {s.strip() for s in block.split(";") if s.strip()}
    return syms


def declared(include_dirs):
    syms = set()
    codes = set()
    for d in include_dirs:
        for h in sorted(Path(d).glob("*.h")):
            text = re.sub(r"/\*.*?\*/", "", h.read_text(), flags=re.S)
            for m in re.finditer(r"UAVMAIL_EXTERN\b[^;]*?\b(uavmail_\w+)\s*\(", text, flags=re.S):
                syms.add(m.group(1))
            codes |= set(re.findall(r"\b(UAVMAIL_E[A-Z0-9_]+)\s*=\s*-\d+", text))
    return syms, codes


def main():
    lib, mapfile, abimd = sys.argv[1:4]
    incs = sys.argv[4:]
    exp, mp = exported(lib), in_map(mapfile)
    decl, codes = declared(incs)
    ok = True
    bad = sorted(s for s in exp if not s.startswith("uavmail_"))
    if bad:
        print("exported symbols outside the uavmail_ namespace:", bad)
        ok = False
    for name, a, b in (("exported but not in the map", exp, mp),
                       ("in the map but not exported", mp, exp),
                       ("exported but not declared", exp, decl),
                       ("declared but not exported", decl, exp)):
        diff = sorted(a - b)
        if diff:
            print(f"{name}: {diff}")
            ok = False
    doc = Path(abimd).read_text()
    missing = sorted(s for s in exp | codes if f"`{s}`" not in doc)
    if missing:
        print("missing from ABI.md:", missing)
        ok = False
    print(f"{len(exp)} exported symbols, {len(codes)} error codes checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

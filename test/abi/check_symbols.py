#!/usr/bin/python3
"""ABI consistency of libuavmail and libuavmail-flight: exported symbols ==
linker map == public declarations (UAVMAIL_EXTERN, UAVMAIL_FLIGHT_EXTERN), the
private node of libuavmail == the UAVMAIL__SHARED declarations of lib/*.h,
every exported symbol starts with uavmail_, and ABI.md lists every public
symbol and every error code (STYLE 14-15)."""
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
    """{node name: symbols} of a linker version script."""
    text = re.sub(r"/\*.*?\*/", "", Path(path).read_text(), flags=re.S)
    nodes = {}
    for name, body in re.findall(r"([\w.]+)\s*\{(.*?)\}\s*[\w.]*\s*;", text, flags=re.S):
        m = re.search(r"global:(.*?)(?:local:|$)", body, flags=re.S)
        nodes[name] = {s.strip() for s in m.group(1).split(";") if s.strip()} if m else set()
    return nodes


def declared(include_dirs, macro, pattern="*.h"):
    """Functions declared with @p macro, and the error codes, in the headers of include_dirs."""
    syms = set()
    codes = set()
    for d in include_dirs:
        for h in sorted(Path(d).glob(pattern)):
            text = re.sub(r"/\*.*?\*/", "", h.read_text(), flags=re.S)
            text = re.sub(r"^\s*#.*$", "", text, flags=re.M)  # the macros' own definitions
            for m in re.finditer(macro + r"\b[^;]*?\b(uavmail_\w+)\s*\(", text, flags=re.S):
                syms.add(m.group(1))
            codes |= set(re.findall(r"\b(UAVMAIL_E[A-Z0-9_]+)\s*=\s*-\d+", text))
    return syms, codes


def compare(pairs):
    ok = True
    for name, a, b in pairs:
        diff = sorted(a - b)
        if diff:
            print(f"{name}: {diff}")
            ok = False
    return ok


def main():
    """check_symbols.py CORE.so CORE.map FLIGHT.so FLIGHT.map ABI.md LIBDIR INCDIR..."""
    lib, mapfile, flib, fmapfile, abimd, libdir = sys.argv[1:7]
    incs = sys.argv[7:]
    exp, fexp = exported(lib), exported(flib)
    nodes, fnodes = in_map(mapfile), in_map(fmapfile)
    private_nodes = [n for n in nodes if n.startswith("UAVMAIL_PRIVATE_")]
    if len(private_nodes) != 1:
        print("libuavmail's map needs exactly one UAVMAIL_PRIVATE_<release> node:", private_nodes)
        return 1
    private = nodes.pop(private_nodes[0])
    public = set().union(*nodes.values())
    fpublic = set().union(*fnodes.values())
    decl, codes = declared(incs, "UAVMAIL_EXTERN")
    fdecl, _ = declared(incs, "UAVMAIL_FLIGHT_EXTERN")
    shared, _ = declared([libdir], "UAVMAIL__SHARED")
    ok = True
    bad = sorted(s for s in exp | fexp if not s.startswith("uavmail_"))
    if bad:
        print("exported symbols outside the uavmail_ namespace:", bad)
        ok = False
    bad = sorted(s for s in public | fpublic if s.startswith("uavmail__"))
    if bad:
        print("private (uavmail__) symbols in a public map node:", bad)
        ok = False
    ok &= compare((
        ("libuavmail: exported but not in the map", exp, public | private),
        ("libuavmail: in the map but not exported", public | private, exp),
        ("libuavmail: exported but not declared", exp - private, decl),
        ("libuavmail: declared but not exported", decl, exp),
        ("libuavmail: private node but not UAVMAIL__SHARED in lib/*.h", private, shared),
        ("libuavmail: UAVMAIL__SHARED in lib/*.h but not in the private node", shared, private),
        ("libuavmail-flight: exported but not in the map", fexp, fpublic),
        ("libuavmail-flight: in the map but not exported", fpublic, fexp),
        ("libuavmail-flight: exported but not declared", fexp, fdecl),
        ("libuavmail-flight: declared but not exported", fdecl, fexp),
        ("exported by both libraries", exp & fexp, set()),
    ))
    # The flight library takes the private functions from this release's node only, so the
    # dynamic linker refuses it next to a libuavmail of another release.
    out = subprocess.run(["nm", "-D", "--undefined-only", flib], check=True,
                         capture_output=True, text=True).stdout
    wrong = sorted(p[1] for p in (line.split() for line in out.splitlines())
                   if len(p) == 2 and p[1].startswith("uavmail__")
                   and p[1].split("@")[-1] != private_nodes[0])
    if wrong:
        print(f"libuavmail-flight: private imports not bound to {private_nodes[0]}:", wrong)
        ok = False
    doc = Path(abimd).read_text()
    missing = sorted(s for s in (exp - private) | fexp | codes if f"`{s}`" not in doc)
    if missing:
        print("missing from ABI.md:", missing)
        ok = False
    print(f"{len(exp - private)} + {len(fexp)} exported symbols ({len(private)} private), "
          f"{len(codes)} error codes checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

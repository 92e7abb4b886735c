#!/usr/bin/python3
"""Bytes each object file contributes to a linked image, from a GNU ld map
(-Wl,-Map): text (.text + .rodata), data and bss, after --gc-sections.
  mapsize.py MAP [--json]      prints "object text data bss" lines
  mapsize.py MAP --archives    the same summed per static library (others as "other")"""
import json
import re
import sys
from collections import defaultdict

KIND = (("text", (".text", ".rodata")), ("data", (".data",)), ("bss", (".bss", "COMMON")))


def kind_of(section):
    for kind, prefixes in KIND:
        if any(section == p or section.startswith(p + ".") for p in prefixes):
            return kind
    return None


def parse(path):
    sizes = defaultdict(lambda: {"text": 0, "data": 0, "bss": 0})
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("Linker script and memory map")), 0)
    pending = None
    for line in lines[start:]:
        if line.startswith("/DISCARD/"):
            break
        m = re.match(r"^ (\.\S+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
        if m is None and pending is not None:
            m2 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
            if m2:
                m = (pending, m2.group(2), m2.group(3))
            pending = None
        elif m is None:
            m1 = re.match(r"^ (\.\S+|COMMON)\s*$", line)
            pending = m1.group(1) if m1 else None
            continue
        else:
            m = (m.group(1), m.group(3), m.group(4))
        section, size, obj = m
        kind = kind_of(section)
        if kind:
            sizes[obj][kind] += int(size, 16)
    return sizes


def main():
    sizes = parse(sys.argv[1])
    if "--archives" in sys.argv:
        per = defaultdict(lambda: {"text": 0, "data": 0, "bss": 0})
        for obj, s in sizes.items():
            m = re.match(r"^(.*\.a)(\(|\.p/)", obj)  # lib.a(member), or meson's lib.a.p/
            name = m.group(1).rsplit("/", 1)[-1] if m else "other"
            for k in s:
                per[name][k] += s[k]
        sizes = per
    if "--json" in sys.argv:
        json.dump(sizes, sys.stdout, indent=1, sort_keys=True)
        return
    for obj, s in sorted(sizes.items()):
        print(obj, s["text"], s["data"], s["bss"])


if __name__ == "__main__":
    main()

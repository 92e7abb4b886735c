#!/usr/bin/python3
"""Public struct layouts against the ABI baseline (abigail XML): every member
of every baseline struct keeps its name, offset and type; new members may
only follow the old end (ABI.md: structs grow only at the end, behind their
version field).  abidiff's own suppressions cannot say exactly this."""
import sys
import xml.etree.ElementTree as ET


def type_names(root):
    names = {}
    for el in root.iter():
        tid = el.get("id")
        if tid:
            names[tid] = el.get("name") or el.tag
    return names


def structs(path):
    root = ET.parse(path).getroot()
    names = type_names(root)
    out = {}
    for cls in root.iter("class-decl"):
        name = cls.get("name")
        # Only structs defined in public headers; handles are opaque.
        if not name or not name.startswith("uavmail_") or cls.get("is-declaration-only") == "yes" \
                or "include/uavmail/" not in (cls.get("filepath") or ""):
            continue
        members = []
        for dm in cls.findall("data-member"):
            var = dm.find("var-decl")
            members.append((int(dm.get("layout-offset-in-bits")), var.get("name"),
                            names.get(var.get("type-id"), "?")))
        out[name] = (int(cls.get("size-in-bits", "0")), members)
    return out


def main():
    base, cur = structs(sys.argv[1]), structs(sys.argv[2])
    bad = 0
    for name, (size, members) in base.items():
        if name not in cur:
            print(f"struct {name} disappeared")
            bad += 1
            continue
        csize, cmembers = cur[name]
        if cmembers[:len(members)] != members:
            print(f"struct {name}: existing members changed\n  was {members}\n  now {cmembers}")
            bad += 1
        for off, mname, _ in cmembers[len(members):]:
            if off < size:
                print(f"struct {name}: new member {mname} inside the old layout")
                bad += 1
    print(f"{len(base)} public structs checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Every public header compiles on its own as C89 -pedantic -Werror and as
C++ (STYLE 15)."""
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = {
    "c89": ["gcc", "-std=c89", "-pedantic", "-Wall", "-Wextra", "-Werror", "-x", "c"],
    "c99": ["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-x", "c"],
    "c++98": ["g++", "-std=c++98", "-pedantic", "-Wall", "-Wextra", "-Werror", "-x", "c++"],
    "c++17": ["g++", "-std=c++17", "-pedantic", "-Wall", "-Wextra", "-Werror", "-x", "c++"],
}


def main():
    src_inc, build_inc = sys.argv[1], sys.argv[2]
    headers = sorted(p.name for p in Path(src_inc, "uavmail").glob("*.h")) + ["version.h"]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            src = Path(tmp, "t.c")
            src.write_text(f"#include <uavmail/{h}>\nint uavmail_header_test_dummy;\n")
            for std, cmd in FLAGS.items():
                r = subprocess.run(cmd + ["-I", src_inc, "-I", build_inc, "-fsyntax-only",
                                          str(src)], capture_output=True, text=True)
                if r.returncode != 0:
                    failed += 1
                    print(f"FAIL {h} as {std}:\n{r.stderr}")
    print(f"{len(headers)} headers x {len(FLAGS)} standards, {failed} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

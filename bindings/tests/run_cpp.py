#!/usr/bin/python3
"""The C++ wrapper: compiles the scenario program and the QGC-style example with
the compiler given (-Wall -Wextra -Werror, optionally AddressSanitizer +
UBSan), then runs the shared scenarios against the loopback server.

  run_cpp.py CXX [--asan]
Environment: UAVMAIL_LIBDIR (libuavmail.so and libuavmail-flight.so), UAVMAIL_INCDIRS
(':'-separated), UAVMAIL_TEST_TMP (scratch)."""
import os
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bindings_common import NativeScenarios, fixed_dir, skip_if_missing  # noqa: E402

CPP = HERE.parent / "cpp"
WARN = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow",
        "-Wnon-virtual-dtor", "-Wold-style-cast", "-Wcast-qual"]


def compile_(cxx, src, out, asan):
    libdir = os.environ["UAVMAIL_LIBDIR"]
    inc = [f"-I{d}" for d in os.environ["UAVMAIL_INCDIRS"].split(":")] + [f"-I{CPP}"]
    flags = ["-g", "-O1"] + (["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                               "-fno-sanitize-recover=all"] if asan else [])
    # Both programs use the outbox, telemetry and alerts: libuavmail-flight, then the core.
    cmd = [cxx] + WARN + flags + inc + [str(src), "-o", str(out), f"-L{libdir}",
                                        "-luavmail-flight", "-luavmail", f"-Wl,-rpath,{libdir}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compile failed: {' '.join(cmd)}\n{r.stderr}")


def main():
    cxx = sys.argv[1] if len(sys.argv) > 1 else ""
    asan = "--asan" in sys.argv
    skip_if_missing(cxx)
    label = "c++ " + Path(cxx).name + (" asan" if asan else "")
    out = fixed_dir("cpp-" + Path(cxx).name + ("-asan" if asan else ""))
    compile_(cxx, CPP / "tests" / "test_cpp.cpp", out / "test_cpp", asan)
    compile_(cxx, CPP / "examples" / "qgc_flight_report.cpp", out / "qgc_flight_report", asan)
    # Leak checking too; the library is not instrumented, so it adds no noise.
    os.environ["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
    os.environ["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"

    class Cpp(NativeScenarios, unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.label = label
            cls.cmd = [str(out / "test_cpp")]
            cls.example_cmd = [str(out / "qgc_flight_report")]
            # Peak RSS under ASan measures its shadow memory, not the wrapper.
            cls.skip = ("big",) if asan else ()
            cls.start()

        def test_nonblocking(self):
            from bindings_common import attachments, make_file, parse, sha256
            make_file(self.work / "stream.bin", 200_000, seed=3)
            n0 = len(self.srv.messages())
            self.run_scenario("nonblocking")
            [(eml, _)] = self.delivered(n0)
            msg = parse(eml)
            self.assertEqual(str(msg["Subject"]), "non-blocking")
            self.assertEqual(sha256(attachments(msg)["stream.bin"]),
                             sha256((self.work / "stream.bin").read_bytes()))
    Cpp.__name__ = Cpp.__qualname__ = label.replace(" ", "_").replace("+", "p")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Cpp)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

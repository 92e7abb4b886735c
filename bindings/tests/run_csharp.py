#!/usr/bin/python3
"""The C# binding: compiles Uavmail.dll against the .NET Framework 4.7.2
reference assemblies with mcs (warnings are errors), the scenario program and
the Mission Planner-style example, then runs the shared scenarios under mono,
plus the garbage-collection stress scenario.

  run_csharp.py MCS MONO
Environment: UAVMAIL_LIBDIR (libuavmail.so and libuavmail-flight.so), UAVMAIL_TEST_TMP
(scratch)."""
import os
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bindings_common import (NativeScenarios, attachments, fixed_dir, parse,  # noqa: E402
                             skip_if_missing)

CS = HERE.parent / "csharp"
SDK = "-sdk:4.7.2-api"
FLAGS = [SDK, "-warnaserror+", "-warn:4", "-debug", "-nologo"]


def mcs(tool, args):
    r = subprocess.run([tool] + FLAGS + args, capture_output=True, text=True)
    if r.returncode != 0 or "warning" in r.stdout + r.stderr:
        sys.exit(f"mcs failed: {' '.join(args)}\n{r.stdout}{r.stderr}")


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else ""
    mono = sys.argv[2] if len(sys.argv) > 2 else ""
    skip_if_missing(tool)
    skip_if_missing(mono)
    if not Path("/usr/lib/mono/4.7.2-api/mscorlib.dll").exists():
        print("SKIP: .NET 4.7.2 reference assemblies (mono-devel) not installed", file=sys.stderr)
        sys.exit(77)
    out = fixed_dir("csharp")
    dll = out / "Uavmail.dll"
    mcs(tool, ["-target:library", f"-out:{dll}"] + [str(p) for p in sorted((CS / "src").glob("*.cs"))])
    mcs(tool, [f"-r:{dll}", f"-out:{out / 'UavmailTests.exe'}", str(CS / "tests" / "UavmailTests.cs")])
    mcs(tool, [f"-r:{dll}", "-define:STANDALONE", f"-out:{out / 'MissionPlannerPlugin.exe'}",
               str(CS / "examples" / "MissionPlannerPlugin.cs")])
    # Mono finds DllImport "uavmail" and "uavmail-flight" as libuavmail.so and
    # libuavmail-flight.so there.
    os.environ["LD_LIBRARY_PATH"] = os.environ["UAVMAIL_LIBDIR"]

    class CSharp(NativeScenarios, unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.label = "c# mono"
            cls.cmd = [mono, "--debug", str(out / "UavmailTests.exe")]
            cls.example_cmd = [mono, "--debug", str(out / "MissionPlannerPlugin.exe")]
            cls.start()

        def test_struct_layouts(self):
            """Marshal.SizeOf / OffsetOf of every hand-declared struct equal the C compiler's."""
            from layouts import c_layouts
            c = c_layouts()
            if c is None:
                self.skipTest("no C compiler")
            got = {}
            for line in self.run_scenario("layout").splitlines():
                if line.startswith("layout "):
                    _, st, field, off = line.split()
                    got.setdefault(st, {})[field] = int(off)
            self.assertEqual(got, c)

        def test_gc_during_send(self):
            n0 = len(self.srv.messages())
            ok = self.lines(self.run_scenario("gc"), "ok ")
            self.assertIn("gc.callbacks", ok)
            payload = bytes(i % 251 for i in range(150000))
            for eml, _ in self.delivered(n0, 3):
                self.assertEqual(attachments(parse(eml))["gc.bin"], payload)

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(CSharp)
    sys.exit(0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1)


if __name__ == "__main__":
    main()

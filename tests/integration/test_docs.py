"""The AT reference's examples are true: every ```text block of → / ← lines in
docs/at-commands*.md is played against fotad (over stdio, on a new module) and must come
back byte for byte. A '# ... --state' comment line in a block starts a new power cycle of
the same module. Blocks showing download or install URCs are illustrations and skipped
until fotad can produce them; an attempt that ends as it starts (the radio off: -1001)
needs no server, and its blocks are played."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from fotalib import ROOT, prog

SKIP = re.compile(r"UPGRADEIND: (?!-1001<)|UPGRADEDL|UPGRADEVER|\+UPGRADE: (1,|2,(?!-1001,0,0<))")
NAMED = {"<CR>": "\r", "<LF>": "\n", "<BS>": "\b", "<DEL>": "\x7f"}


def decode(s):
    for k, v in NAMED.items():
        s = s.replace(k, v)
    s = re.sub(r"<0x([0-9A-Fa-f]{2})>", lambda m: chr(int(m.group(1), 16)), s)
    return s.encode("latin-1")


def power_cycles(lines):
    runs, cur = [], {"in": b"", "out": b""}
    for line in lines:
        if line.startswith("#") and "--state" in line:
            runs.append(cur)
            cur = {"in": b"", "out": b""}
        elif line.startswith("→ "):
            cur["in"] += decode(line[2:])
        elif line.startswith("←"):
            cur["out"] += decode(line[2:] if line.startswith("← ") else "")
    runs.append(cur)
    return runs


def play(runs, prelude):
    d = tempfile.mkdtemp(prefix="doccheck-")
    try:
        got = []
        for r in runs:
            out = subprocess.run([prog("fotad"), "--state", d, "--imei", "864000000000008",
                                  "--server", "http://127.0.0.1:9"],
                                 input=prelude + r["in"], capture_output=True, timeout=20).stdout
            if b"RDY" not in r["out"] and out.startswith(b"\r\nRDY\r\n"):
                out = out[len(b"\r\nRDY\r\n"):]
            if prelude:
                out = out[len(b"ATE0\r\r\nOK\r\n"):]
            got.append(out)
        return got
    finally:
        shutil.rmtree(d)


class DocExamplesTest(unittest.TestCase):
    def check(self, name):
        text = open(os.path.join(ROOT, "docs", name), encoding="utf-8").read()
        played = 0
        for block in re.findall(r"```text\n(.*?)```", text, re.S):
            lines = block.split("\n")
            if not any(l.startswith(("→", "←")) for l in lines) or SKIP.search(block):
                continue
            runs = power_cycles(lines)
            want = [r["out"] for r in runs]
            # Examples are written with echo on, or with echo off after an unshown ATE0.
            if play(runs, b"") != want:
                self.assertEqual(play(runs, b"ATE0\r"), want, "block:\n" + block)
            played += 1
        self.assertGreater(played, 10)

    def test_english_reference_examples_hold(self):
        self.check("at-commands.md")

    def test_chinese_reference_examples_hold(self):
        self.check("at-commands.zh.md")


if __name__ == "__main__":
    unittest.main()

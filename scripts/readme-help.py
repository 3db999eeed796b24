#!/usr/bin/env python3
"""Regenerates the help blocks (```text / $ tn VERB --help / ...) of README.md and docs/*.md from the real command.

    dotnet build apps/TnDsl.Cli -c Release
    python3 scripts/readme-help.py apps/TnDsl.Cli/bin/Release/net10.0/tn

A test (ArgsTests: the help the README and docs/ show is the help tn prints) fails when a block and the help differ.
"""
import pathlib
import re
import subprocess
import sys

tn = sys.argv[1] if len(sys.argv) > 1 else "apps/TnDsl.Cli/bin/Release/net10.0/tn"


def fill(match):
    verb = match.group(1).strip()
    out = subprocess.run([tn, *verb.split(), "--help"], capture_output=True, text=True, check=True).stdout
    out = "\n".join(line.rstrip() for line in out.rstrip().split("\n"))
    return f"```text\n$ tn {verb + ' ' if verb else ''}--help\n{out}\n```"


for page in [pathlib.Path("README.md"), *sorted(pathlib.Path("docs").glob("*.md"))]:
    text = page.read_text(encoding="utf-8")
    filled = re.sub(r"```text\n\$ tn ([a-z -]*?) ?--help\n.*?```", fill, text, flags=re.S)
    if filled != text:
        page.write_text(filled, encoding="utf-8")

#!/usr/bin/env python3
"""Regenerates the README's help blocks (```text / $ tn VERB --help / ...) from the real command.

    dotnet build apps/TnDsl.Cli -c Release
    python3 scripts/readme-help.py apps/TnDsl.Cli/bin/Release/net10.0/tn

A test (ArgsTests: the help the README shows is the help tn prints) fails when a block and the help differ.
"""
import re
import subprocess
import sys

tn = sys.argv[1] if len(sys.argv) > 1 else "apps/TnDsl.Cli/bin/Release/net10.0/tn"


def fill(match):
    verb = match.group(1).strip()
    out = subprocess.run([tn, *verb.split(), "--help"], capture_output=True, text=True, check=True).stdout
    out = "\n".join(line.rstrip() for line in out.rstrip().split("\n"))
    return f"```text\n$ tn {verb + ' ' if verb else ''}--help\n{out}\n```"


with open("README.md", encoding="utf-8") as f:
    text = f.read()
text = re.sub(r"```text\n\$ tn ([a-z -]*?) ?--help\n.*?```", fill, text, flags=re.S)
with open("README.md", "w", encoding="utf-8") as f:
    f.write(text)

#!/usr/bin/env python3
"""Copies the summary of each recorded benchmark file into the README and the pages of docs/.

In README.md and docs/*.md, a block

    <!-- results: bench/results/NAME.md -->
    ...
    <!-- /results -->

is replaced by the lines between `<!-- summary -->` and `<!-- /summary -->` of that file, which
scripts/record-figures.sh writes from the real commands (the path is the repository's, wherever the block is). A
test (ToolTests: the benchmark figures the README and docs/ quote are the summaries recorded) fails when a block and
its file differ.
"""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent


def summary(path, current):
    if not (root / path).exists():
        print(f"readme-results: {path} is not recorded yet; its quoted block is left as it is")
        return current
    text = (root / path).read_text(encoding="utf-8")
    m = re.search(r"<!-- summary -->\n(.*?)<!-- /summary -->", text, flags=re.S)
    if not m:
        raise SystemExit(f"{path}: no <!-- summary --> block")
    return m.group(1)


for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
    text = page.read_text(encoding="utf-8")
    filled = re.sub(r"(<!-- results: (\S+) -->\n).*?(<!-- /results -->)",
                    lambda m: m.group(1) + summary(m.group(2), m.group(3)[:0] + m.group(0)[len(m.group(1)):-len(m.group(3))]) + m.group(3), text, flags=re.S)
    if filled != text:
        page.write_text(filled, encoding="utf-8")

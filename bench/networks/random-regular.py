#!/usr/bin/env python3
"""A random 3-regular graph as a tn JSON network (`tn plan FILE.json`): one tensor per vertex, one bond of size D per
edge, nothing open. Configuration model with a seeded generator, redrawn until simple (no loops, no double edges).

usage: bench/networks/random-regular.py N D SEED > bench/networks/3-regular-N.json"""
import json, random, sys

n, d, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
while True:
    stubs = [v for v in range(n) for _ in range(3)]
    rng.shuffle(stubs)
    edges = [tuple(sorted(stubs[i:i + 2])) for i in range(0, len(stubs), 2)]
    if all(a != b for a, b in edges) and len(set(edges)) == len(edges):
        break
bonds = {v: [] for v in range(n)}
for k, (a, b) in enumerate(edges):
    bonds[a].append(f"e{k}")
    bonds[b].append(f"e{k}")
# As `tn export --json` lays it out: one tensor a line.
tensors = ",\n".join("    " + json.dumps({"name": f"T{v}", "indices": bonds[v]}) for v in range(n))
sizes = ",\n".join(f'    "e{k}": {d}' for k in range(len(edges)))
print('{\n  "tensors": [\n' + tensors + '\n  ],\n  "sizes": {\n' + sizes + '\n  },\n  "output": []\n}')

#!/usr/bin/python3
"""Runs the authors' numpy Born-machine trainer (MPS_c in MPScumulant.py of github.com/congzlwag/UnsupGenModbyMPS,
Han, Wang, Fan, Wang, Zhang, PRX 8, 031012, 2018) for a few loops from a given start, as the baseline of
`TnDsl.TorchBench born-authors`. Their code is not part of TnDsl: pass the folder that holds MPScumulant.py.

The loop is their own bond step (MPS_c.__bondtrain__: merge, gradient steps from the cached environments
("cumulants"), SVD split, environment update) called in the order TnDsl's trainer runs it: bonds n-2 .. 1 right to
left, then 0 .. n-2 left to right, so both sides do the same 2n-3 bond updates per loop from the same start. After a
loop the train NLL comes from their cached environments (Give_psi_cumulant, with ln Z = ln |A_{n-1}|^2) and the test
NLL from their Give_psi, as TnDsl computes both every loop. Prints one JSON object per line: the setup, then one per
loop with its process CPU seconds, and finally the peak resident set (getrusage ru_maxrss).

Usage: born-authors.py AUTHORS_DIR WORK_DIR LOOPS DMAX LR
WORK_DIR holds site.K.npy (float64 (Dl, 2, Dr), left-canonical), train.npy and test.npy (uint8 (N, n), site order).
"""
import json
import os
import resource
import sys
import time
import types

import numpy as np

authors, work, loops, dmax, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

try:
    import scipy.linalg  # noqa: F401  (their import; used when installed)
    svd_from = "scipy.linalg.svd"
except ImportError:
    # Debian's python3-numpy alone: numpy.linalg's svd and norm are the same LAPACK routine (gesdd, full matrices
    # by default) and the same Frobenius norm as the scipy.linalg functions MPScumulant imports.
    scipy = types.ModuleType("scipy")
    linalg = types.ModuleType("scipy.linalg")
    linalg.svd = np.linalg.svd
    linalg.norm = np.linalg.norm
    scipy.linalg = linalg
    sys.modules["scipy"] = scipy
    sys.modules["scipy.linalg"] = linalg
    svd_from = "numpy.linalg.svd (scipy not installed)"

sys.path.insert(0, authors)
from MPScumulant import MPS_c  # noqa: E402

train = np.load(os.path.join(work, "train.npy"))
test = np.load(os.path.join(work, "test.npy"))
n = train.shape[1]
sites = [np.load(os.path.join(work, "site.%d.npy" % k)) for k in range(n)]

start = time.process_time()
m = MPS_c(n)
m.verbose = 0
m.matrices = sites
m.bond_dimension = np.asarray([s.shape[2] for s in sites], dtype=np.int16)
m.current_bond = n - 1          # left-canonical: every site but the last left-orthonormal
m.merged_matrix = None
m.cutoff = 1e-50                # their MNIST setting: keep every singular value up to Dmax
m.maxibond = dmax
m.minibond = 1
m.descent_steps = 1
m.nbatch = 1
m.descenting_step_length = lr
m.designate_data(train)
m.init_cumulants()


def train_nll():
    # Their cumulant psi at bond n-2 (sites n-2, n-1 with the left environment of sites < n-2), Z = |A_{n-1}|^2.
    m.current_bond = n - 2
    m.cumulants[n - 1] = np.ones((1, m.data.shape[0]))
    psi = m.Give_psi_cumulant()
    return float(np.log(np.linalg.norm(m.matrices[n - 1]) ** 2) - 2 * np.log(np.abs(psi)).mean())


def test_nll():
    psi = m.Give_psi(test.astype(np.int8))
    return float(np.log(np.linalg.norm(m.matrices[n - 1]) ** 2) - 2 * np.log(np.abs(psi)).mean())


print(json.dumps({"setup_cpu": time.process_time() - start, "svd": svd_from, "numpy": np.__version__,
                  "train_nll": train_nll(), "test_nll": test_nll()}), flush=True)
for loop in range(1, loops + 1):
    t0, w0 = time.process_time(), time.perf_counter()
    for bond in range(n - 2, 0, -1):
        m.__bondtrain__(False)
    for bond in range(0, n - 1):
        m.__bondtrain__(True)
    tr = train_nll()
    te = test_nll()
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    print(json.dumps({"loop": loop, "cpu": cpu, "wall": wall, "train_nll": tr, "test_nll": te,
                      "max_bond": int(m.bond_dimension.max())}), flush=True)
print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)

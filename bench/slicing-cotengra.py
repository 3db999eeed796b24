#!/usr/bin/env python3
"""cotengra at the memory limits of TnDsl's slicing benchmark (issue 17), for the state of the art beside ours.

The networks are built exactly as `bench/TnDsl.Bench/HyperBench.fs` builds them (closed L x L lattices with size-1
site legs; the 5x5 PEPS norm). For each limit, cotengra's HyperOptimizer runs for the given wall time, serial, once
with `slicing_reconf_opts={'target_size': limit}` (slicing interleaved with subtree reconfiguration inside every
trial) and once with `slicing_opts={'target_size': limit}` (slicing after each trial). Its path and sliced indices
are re-costed in opt_einsum's convention (one slice costed by opt_einsum with the sliced indices at size 1, times
the number of slices), the convention of TnDsl's figures, so the sliced flops compare directly with the bench's.
Also printed: cotengra's own unsliced best in the same time, and the process CPU time of each run (on a loaded
machine wall time says little).

opt_einsum, cotengra and autoray are not part of TnDsl: put checkouts on PYTHONPATH, e.g.
  PYTHONPATH=opt_einsum:cotengra:autoray /usr/bin/python3 bench/slicing-cotengra.py 8x8D4 20 655,2621
Arguments: the network (8x8D4, 10x10D3, 16x16D2, peps5x5), seconds per run, comma-separated limits (elements);
optionally `reconf` (only slicing_reconf_opts) and `unsliced-seconds=S` (the unsliced run's time).
Needs numpy (Debian: python3-numpy).
"""
import sys, time, math, warnings
warnings.filterwarnings("ignore")
import opt_einsum as oe
import cotengra as ctg

def grid_tensors(L, tag=""):
    """The L x L grid's tensors: a site leg s{r}_{c} and bonds {tag}h/{tag}v to the neighbours."""
    ts = []
    for r in range(L):
        for c in range(L):
            t = [f"s{r}_{c}"]
            if r > 0: t.append(f"{tag}v{r-1}_{c}")
            if c > 0: t.append(f"{tag}h{r}_{c-1}")
            if c < L - 1: t.append(f"{tag}h{r}_{c}")
            if r < L - 1: t.append(f"{tag}v{r}_{c}")
            ts.append(t)
    return ts

def lattice(L, D):
    ts = grid_tensors(L)
    sizes = {n: (1 if n.startswith("s") else D) for t in ts for n in t}
    return ts, sizes

def peps_norm(L, D, d):
    # ket and bra layers share the physical legs s{r}_{c}
    ts = grid_tensors(L, "k") + grid_tensors(L, "b")
    sizes = {n: (d if n.startswith("s") else D) for t in ts for n in t}
    return ts, sizes

def oe_flops(ts, sizes, path, sliced):
    names = sorted({n for t in ts for n in t})
    sym = {n: oe.get_symbol(k) for k, n in enumerate(names)}
    eq = ",".join("".join(sym[n] for n in t) for t in ts) + "->"
    sz = {n: (1 if n in sliced else s) for n, s in sizes.items()}
    shapes = [tuple(sz[n] for n in t) for t in ts]
    _, info = oe.contract_path(eq, *shapes, shapes=True, optimize=[tuple(s) for s in path])
    slices = math.prod(sizes[n] for n in sliced)
    return int(info.opt_cost) * slices, slices, int(info.largest_intermediate)

def run(ts, sizes, seconds, opts):
    opt = ctg.HyperOptimizer(max_time=seconds, max_repeats=10**6, parallel=False, progbar=False, **opts)
    tree = ctg.array_contract_tree([tuple(t) for t in ts], (), size_dict=sizes, optimize=opt)
    return tree, len(opt.scores)

cases = {"8x8D4": lambda: lattice(8, 4), "10x10D3": lambda: lattice(10, 3), "16x16D2": lambda: lattice(16, 2),
         "peps5x5": lambda: peps_norm(5, 3, 2)}
# argv: case seconds limit[,limit...]
# optional argv[4]: "reconf" runs only slicing_reconf_opts (the stronger mode), "unsliced-seconds=S" the unsliced run
case, seconds, limits = sys.argv[1], float(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
extra = sys.argv[4:]
modes = ["slicing_reconf_opts"] if "reconf" in extra else ["slicing_reconf_opts", "slicing_opts"]
unsliced_seconds = next((float(a.split("=")[1]) for a in extra if a.startswith("unsliced-seconds=")), seconds)
ts, sizes = cases[case]()
tree, n = run(ts, sizes, unsliced_seconds, {})
free, _, largest = oe_flops(ts, sizes, tree.get_path(), [])
print(f"{case} unsliced ctg {unsliced_seconds:g}s: flops {free:.4g} largest {largest} trials {n}", flush=True)
for limit in limits:
    for mode in modes:
        t0 = time.process_time()
        tree, n = run(ts, sizes, seconds, {mode: {"target_size": limit}})
        sliced = sorted(tree.sliced_inds)
        tin = [list(t) for t in tree.inputs]
        flops, slices, per = oe_flops(tin, dict(tree.size_dict), tree.get_path(), sliced)
        back = {}
        for t, u in zip(ts, tin):
            for a, b in zip(t, u): back[b] = a
        sliced = [back[x] for x in sliced]
        print(f"{case} limit {limit} {mode:20s} {seconds:g}s cpu {time.process_time()-t0:.1f}: flops {flops:.4g} slices {slices} per-slice {per} "
              f"trials {n} over-ctg-unsliced {flops/free:.3f} sliced {' '.join(sliced)}", flush=True)

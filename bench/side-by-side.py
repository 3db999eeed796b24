#!/usr/bin/env python3
"""TnDsl's planner side by side with opt_einsum and cotengra on the same networks (issue 17).

Reads the JSON written by `dotnet run -c Release --project bench/TnDsl.Bench -- export FILE` (networks, and
TnDsl's `hyper` and `auto` results with their paths and search times), then per network:
  * re-costs TnDsl's paths with opt_einsum (the flops must agree: same convention),
  * runs opt_einsum's random-greedy with 128 trials,
  * runs cotengra's HyperOptimizer for the same wall time as TnDsl's `hyper` took (equal search time), serial,
    and re-costs its path with opt_einsum,
and prints a markdown table of flops ratios (below 1: TnDsl's plan is cheaper).

opt_einsum, cotengra and autoray are not part of TnDsl: put checkouts on PYTHONPATH, e.g.
  PYTHONPATH=opt_einsum:cotengra:autoray python3 bench/side-by-side.py networks.json [--ctg-min-seconds S]
Needs numpy (Debian: python3-numpy).
"""
import argparse, json, math, sys, time, warnings

warnings.filterwarnings("ignore")
import opt_einsum as oe
import cotengra as ctg


def equation(net):
    names = sorted({n for t in net["inputs"] for n in t} | set(net["output"]))
    sym = {n: oe.get_symbol(k) for k, n in enumerate(names)}
    eq = ",".join("".join(sym[n] for n in t) for t in net["inputs"]) + "->" + "".join(sym[n] for n in net["output"])
    shapes = [tuple(net["sizes"][n] for n in t) for t in net["inputs"]]
    return eq, shapes, sym


def oe_cost(eq, shapes, path):
    _, info = oe.contract_path(eq, *shapes, shapes=True, optimize=[tuple(s) for s in path])
    return int(info.opt_cost), int(info.largest_intermediate)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("networks")
    ap.add_argument("--ctg-min-seconds", type=float, default=0.0,
                    help="give cotengra at least this long (default: exactly TnDsl hyper's time)")
    a = ap.parse_args()
    data = json.load(open(a.networks))
    print(f"opt_einsum {oe.__version__}, cotengra {getattr(ctg, '__version__', '?')}; serial; "
          f"TnDsl hyper {data['trials']} trials, threads {data['threads']}")
    print()
    print("| network | tensors | TnDsl hyper flops | ms | TnDsl auto flops | oe random-greedy (128) flops | ms "
          "| cotengra hyper flops | s | hyper/oe-rg | hyper/ctg | auto/oe-rg | auto/ctg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = {"hyper/oe": 0.0, "hyper/ctg": 0.0}
    for net in data["networks"]:
        eq, shapes, _ = equation(net)
        hyper, auto = net["hyper"], net["auto"]
        hf, _ = oe_cost(eq, shapes, hyper["path"])
        af, _ = oe_cost(eq, shapes, auto["path"])
        agree = hf == int(hyper["flops"]) and af == int(auto["flops"])
        t0 = time.perf_counter()
        rg = oe.RandomGreedy(max_repeats=128, parallel=False)
        path, _ = oe.contract_path(eq, *shapes, shapes=True, optimize=rg)
        rg_s = time.perf_counter() - t0
        rgf, _ = oe_cost(eq, shapes, path)
        budget = max(hyper["ms"] / 1000.0, a.ctg_min_seconds)
        opt = ctg.HyperOptimizer(max_time=budget, max_repeats=10**6, parallel=False, progbar=False)
        t0 = time.perf_counter()
        inputs = [tuple(t) for t in net["inputs"]]
        tree = ctg.array_contract_tree(inputs, tuple(net["output"]), size_dict=net["sizes"], optimize=opt)
        ctg_s = time.perf_counter() - t0
        cf, _ = oe_cost(eq, shapes, tree.get_path())
        r = lambda x, y: x / y
        worst["hyper/oe"] = max(worst["hyper/oe"], r(hf, rgf))
        worst["hyper/ctg"] = max(worst["hyper/ctg"], r(hf, cf))
        print(f"| {net['label']} | {len(net['inputs'])} | {hf:.4g} | {hyper['ms']:.0f} | {af:.4g} | {rgf:.4g} | "
              f"{rg_s * 1000:.0f} | {cf:.4g} | {ctg_s:.1f} | {r(hf, rgf):.3f} | {r(hf, cf):.3f} | "
              f"{r(af, rgf):.3f} | {r(af, cf):.3f} |" + ("" if agree else " (TnDsl's own flops disagree!)"))
        sys.stdout.flush()
    print()
    print(f"worst hyper/oe-rg {worst['hyper/oe']:.3f}, worst hyper/ctg {worst['hyper/ctg']:.3f}")


if __name__ == "__main__":
    main()

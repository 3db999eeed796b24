#!/usr/bin/env python3
"""TnDsl's planner side by side with opt_einsum and cotengra on the same networks (issue 17).

Reads the JSON written by `dotnet run -c Release --project bench/TnDsl.Bench -- export FILE` (networks, and
TnDsl's `hyper` and `auto` results with their paths and search times), then per network:
  * re-costs TnDsl's paths with opt_einsum (the flops must agree: same convention),
  * runs opt_einsum's random-greedy with 128 trials,
  * runs cotengra's HyperOptimizer for the same wall time as TnDsl's `hyper` took (equal search time), serial,
    and re-costs its path with opt_einsum,
  * with --ctg-best-seconds S, also runs cotengra for S seconds (issue 17's "the best cotengra finds in 60 s")
    once per network, saved under --cache DIR and reused by later runs (they are expensive: run them serially),
and prints a markdown table of flops ratios (below 1: TnDsl's plan is cheaper).

opt_einsum, cotengra and autoray are not part of TnDsl: put checkouts on PYTHONPATH, e.g.
  PYTHONPATH=opt_einsum:cotengra:autoray python3 bench/side-by-side.py networks.json [--ctg-min-seconds S]
      [--ctg-best-seconds 60 --cache DIR]
Needs numpy (Debian: python3-numpy).
"""
import argparse, hashlib, json, math, os, sys, time, warnings

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


def ctg_run(net, seconds):
    """cotengra's hyper-search for `seconds` of wall time (serial): its path and the best trial's settings."""
    opt = ctg.HyperOptimizer(max_time=seconds, max_repeats=10**6, parallel=False, progbar=False)
    t0 = time.perf_counter()
    inputs = [tuple(t) for t in net["inputs"]]
    tree = ctg.array_contract_tree(inputs, tuple(net["output"]), size_dict=net["sizes"], optimize=opt)
    params = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in opt.best.get("params", {}).items()}
    return tree.get_path(), time.perf_counter() - t0, len(opt.scores), params


def ctg_best(net, seconds, cache):
    """`ctg_run` for `seconds`, read from the cache when this very network was run for as long before."""
    key = hashlib.sha1(json.dumps([net["inputs"], net["output"], net["sizes"], seconds], sort_keys=True).encode()).hexdigest()[:16]
    file = os.path.join(cache, f"ctg-{seconds:g}s-{key}.json")
    if os.path.exists(file):
        with open(file) as f:
            return json.load(f)
    path, spent, trials, params = ctg_run(net, seconds)
    record = {"label": net["label"], "seconds": seconds, "spent": spent, "trials": trials, "params": params,
              "path": [list(map(int, s)) for s in path]}
    os.makedirs(cache, exist_ok=True)
    with open(file + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(file + ".tmp", file)
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("networks")
    ap.add_argument("--ctg-min-seconds", type=float, default=0.0,
                    help="give cotengra at least this long (default: exactly TnDsl hyper's time)")
    ap.add_argument("--ctg-best-seconds", type=float, default=0.0,
                    help="also run cotengra this long once per network (cached) and compare auto with it")
    ap.add_argument("--cache", default="side-by-side-cache", help="folder of the cached long cotengra runs")
    ap.add_argument("--only", default=None, help="run only the networks whose label contains this text")
    ap.add_argument("--fill-cache", action="store_true",
                    help="only run (or read) the long cotengra runs and print their flops")
    a = ap.parse_args()
    data = json.load(open(a.networks))
    if a.fill_cache:
        for net in data["networks"]:
            if a.only and a.only not in net["label"]:
                continue
            eq, shapes, _ = equation(net)
            best = ctg_best(net, a.ctg_best_seconds, a.cache)
            bf, bl = oe_cost(eq, shapes, best["path"])
            print(f"{net['label']:24s} cotengra {a.ctg_best_seconds:g} s: {bf:.4g} flops, largest {bl:.4g}, "
                  f"{best['trials']} trials in {best['spent']:.1f} s, best {best['params']}")
            sys.stdout.flush()
        return
    print(f"opt_einsum {oe.__version__}, cotengra {getattr(ctg, '__version__', '?')}; serial; "
          f"TnDsl hyper {data['trials']} trials, threads {data['threads']}")
    print()
    best_s = a.ctg_best_seconds
    extra = f" | TnDsl auto ms | cotengra {best_s:g} s flops | auto/ctg-{best_s:g}s |" if best_s > 0 else " |"
    print("| network | tensors | TnDsl hyper flops | ms | TnDsl auto flops | oe random-greedy (128) flops | ms "
          "| cotengra hyper flops | s | hyper/oe-rg | hyper/ctg | auto/oe-rg | auto/ctg" + extra)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if best_s > 0 else ""))
    worst = {"hyper/oe": 0.0, "hyper/ctg": 0.0, "auto/ctg-best": 0.0}
    for net in data["networks"]:
        if a.only and a.only not in net["label"]:
            continue
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
        path, ctg_s, _, _ = ctg_run(net, budget)
        cf, _ = oe_cost(eq, shapes, path)
        r = lambda x, y: x / y
        worst["hyper/oe"] = max(worst["hyper/oe"], r(hf, rgf))
        worst["hyper/ctg"] = max(worst["hyper/ctg"], r(hf, cf))
        row = (f"| {net['label']} | {len(net['inputs'])} | {hf:.4g} | {hyper['ms']:.0f} | {af:.4g} | {rgf:.4g} | "
               f"{rg_s * 1000:.0f} | {cf:.4g} | {ctg_s:.1f} | {r(hf, rgf):.3f} | {r(hf, cf):.3f} | "
               f"{r(af, rgf):.3f} | {r(af, cf):.3f} |")
        if best_s > 0:
            best = ctg_best(net, best_s, a.cache)
            bf, _ = oe_cost(eq, shapes, best["path"])
            worst["auto/ctg-best"] = max(worst["auto/ctg-best"], r(af, bf))
            row += f" {auto['ms']:.0f} | {bf:.4g} | {r(af, bf):.3f} |"
        print(row + ("" if agree else " (TnDsl's own flops disagree!)"))
        sys.stdout.flush()
    print()
    print(f"worst hyper/oe-rg {worst['hyper/oe']:.3f}, worst hyper/ctg {worst['hyper/ctg']:.3f}"
          + (f", worst auto/ctg-{best_s:g}s {worst['auto/ctg-best']:.3f}" if best_s > 0 else ""))


if __name__ == "__main__":
    main()

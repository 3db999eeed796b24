using TnDsl.BornMachine;
using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>born-split</c>: the two ways of splitting a merged two-site tensor (Dl, 2, 2, Dr) at bond dimension D and
/// keeping D: <see cref="SvdSplit.Split"/> (an SVD of the 2D × 2D matrix) against <see cref="SvdSplit.SplitByGram"/>
/// (an eigendecomposition of its Gram), both sweep directions, with how far the two kept products are apart.
/// The matrix is a trained-like one: a rank-D product plus a small full-rank step, so half its spectrum is small.
/// </summary>
static class BornSplitBench
{
    public static void Run(Device device)
    {
        Console.WriteLine("split of a (D, 2, 2, D) tensor keeping D, float64, median of 5 alternating rounds");
        Console.WriteLine($"{"D",4} {"centre",7} {"SVD",11} {"Gram + eigh",12} {"ratio",6} {"|product difference| / |M|",27} {"discarded (SVD, Gram)",24}");
        foreach (int d in new[] { 30, 100, 300, 500 })
        {
            using var a = randn(d * 2, d, ScalarType.Float64, device);
            using var b = randn(d, 2 * d, ScalarType.Float64, device);
            using var step = randn(2 * d, 2 * d, ScalarType.Float64, device);
            using var product = a.matmul(b);
            using var noise = ScalarOps.Times(step, 0.01);
            using var sum = ScalarOps.Plus(product, noise);
            using var raw = sum.reshape(d, 2, 2, d);
            using var norm = raw.norm();
            using var merged = raw / norm;
            foreach (var centre in new[] { CentreSide.Right, CentreSide.Left })
            {
                var t = BackendBench.Median(new()
                {
                    ["svd"] = () => SvdSplit.Split(merged, 1e-50, d, centre).Left,
                    ["gram"] = () => SvdSplit.SplitByGram(merged, 1e-50, d, centre).Left,
                }, device, rounds: 5);
                using var bySvd = SvdSplit.Split(merged, 1e-50, d, centre);
                using var byGram = SvdSplit.SplitByGram(merged, 1e-50, d, centre);
                using var scope = NewDisposeScope();
                var p1 = bySvd.Left.reshape(2 * d, d).matmul(bySvd.Right.reshape(d, 2 * d));
                var p2 = byGram.Left.reshape(2 * d, d).matmul(byGram.Right.reshape(d, 2 * d));
                double gap = ScalarOps.Minus(p1, p2).norm().item<double>() / p1.norm().item<double>();
                Console.WriteLine($"{d,4} {centre,7} {t["svd"] * 1e3,8:F2} ms {t["gram"] * 1e3,9:F2} ms {t["gram"] / t["svd"],6:F2} {gap,27:E2} {bySvd.DiscardedWeight,11:E3} {byGram.DiscardedWeight,11:E3}");
            }
        }
    }
}

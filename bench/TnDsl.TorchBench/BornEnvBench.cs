using TnDsl.BornMachine;
using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>born-env</c>: the Born machine's environment step on the 1000 training images, computing every pixel value
/// and gathering one (the first implementation) against one product per pixel value over its images
/// (<see cref="PixelGroups"/>), at bond dimensions 30, 100 and 500, at a border site (all pixels 0) and at
/// a middle site; then the three parts of one bond update at a middle bond (gradient step, SVD split, environment
/// step) at the same bond dimensions, to say what a loop costs when every bond is at Dmax.
/// </summary>
static class BornEnvBench
{
    public static void Run(Device device, string examples)
    {
        var data = BornData.Load(Path.Combine(examples, "data", "born-machine", "mnist"));
        int size = data.Train.Size, count = data.Train.Count;
        using var bytes = tensor(data.Train.Pixels, [count, size]);
        using var wide = bytes.to_type(ScalarType.Int64);
        using var images = wide.to(device);
        Console.WriteLine($"environment step L'[n] = L[n] A[:, x_n, :], {count} images, float64, median of 15 alternating rounds");
        Console.WriteLine($"{"site",-14} {"ones",5} {"D",4} {"gather all",12} {"grouped",12} {"ratio",6}");
        foreach (int pixel in new[] { 0, 14 * 28 + 14 })
        {
            using var selected = images.select(1, pixel);
            using var column = selected.contiguous();
            using var groups = PixelGroups.Of(column, 2);
            foreach (long d in new long[] { 30, 100, 500 })
            {
                using var left = randn(count, d, ScalarType.Float64, device);
                using var site = randn(d, 2, d, ScalarType.Float64, device);
                var t = BackendBench.Median(new()
                {
                    ["gather"] = () => Environments.StepLeft(left, site, column),
                    ["grouped"] = () => Environments.StepLeft(left, site, groups),
                }, device);
                string where = pixel == 0 ? "border (0,0)" : "middle (14,14)";
                Console.WriteLine($"{where,-14} {groups.Counts[1],5} {d,4} {t["gather"] * 1e3,9:F3} ms {t["grouped"] * 1e3,9:F3} ms {t["grouped"] / t["gather"],6:F2}");
            }
        }

        int middle = 14 * 28 + 13;
        using var firstColumn = images.select(1, middle);
        using var secondColumn = images.select(1, middle + 1);
        using var first = firstColumn.contiguous();
        using var second = secondColumn.contiguous();
        using var doubled = ScalarOps.Times(first, 2L);
        using var pairs = ScalarOps.Plus(doubled, second);
        using var pairGroups = PixelGroups.Of(second, 2);
        Console.WriteLine();
        Console.WriteLine($"one bond update at pixels {middle},{middle + 1}, all bonds at D (median of 5 alternating rounds)");
        Console.WriteLine($"{"D",4} {"gradient",12} {"SVD split",12} {"environment",12} {"per bond",12} {"loop of 1565 bonds",20}");
        foreach (long d in new long[] { 30, 100, 500 })
        {
            using var left = randn(count, d, ScalarType.Float64, device);
            using var right = randn(count, d, ScalarType.Float64, device);
            using var raw = randn(d, 2, 2, d, ScalarType.Float64, device);
            using var norm = raw.norm();
            using var merged = raw / norm;
            using var site = randn(d, 2, d, ScalarType.Float64, device);
            var t = BackendBench.Median(new()
            {
                ["gradient"] = () => BornGradient.Compute(merged, left, right, pairs).Gradient,
                ["svd"] = () => SvdSplit.Split(merged, 1e-7, (int)d, CentreSide.Right).Left,
                ["environment"] = () => Environments.StepRight(right, site, pairGroups),
            }, device, rounds: 5);
            double bond = t["gradient"] + t["svd"] + t["environment"];
            Console.WriteLine($"{d,4} {t["gradient"] * 1e3,9:F2} ms {t["svd"] * 1e3,9:F2} ms {t["environment"] * 1e3,9:F2} ms {bond * 1e3,9:F2} ms {bond * 1565 / 60,15:F1} min");
        }
    }
}

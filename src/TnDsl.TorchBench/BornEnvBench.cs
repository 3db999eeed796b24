using TnDsl.Torch.BornMachine;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>born-env</c>: the Born machine's environment step on the 1000 training images, computing every pixel value
/// and gathering one (the first implementation) against one product per pixel value over its images
/// (<see cref="PixelGroups"/>), at bond dimensions 30, 100 and 500, at a border site (all pixels 0) and at
/// a middle site.
/// </summary>
static class BornEnvBench
{
    public static void Run(Device device, string examples)
    {
        var data = BornData.Load(Path.Combine(examples, "data", "born-machine", "mnist"));
        int size = data.Train.Size, count = data.Train.Count;
        using var images = tensor(data.Train.Pixels, [count, size]).to(device);
        Console.WriteLine($"environment step L'[n] = L[n] A[:, x_n, :], {count} images, float64, median of 15 alternating rounds");
        Console.WriteLine($"{"site",-14} {"ones",5} {"D",4} {"gather all",12} {"grouped",12} {"ratio",6}");
        foreach (int pixel in new[] { 0, 14 * 28 + 14 })
        {
            using var column = images.select(1, pixel).contiguous();
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
    }
}

using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Tests of process-wide memory state (the measured peak, the guard's limit override) run alone, after the parallel ones.
[CollectionDefinition("peak memory", DisableParallelization = true)]
public sealed class PeakMemoryCollection;

/// The planner's byte estimate (MemoryGuard.Needed) against the peak memory measured while examples run: it bounds
/// the measured peak within a stated factor, and is not so loose that it refuses what would fit.
[Collection("peak memory")]
public class MemoryEstimateTests
{
    static MemoryEstimateTests() => NativeLoader.EnsureLoaded();

    /// The stated bound: measured ≤ Over × estimate + Slack, and estimate ≤ Under × measured + Slack. Slack covers
    /// what the allocator and the runtime add whatever the network (thread stacks, libtorch's small buffers).
    const double Over = 1.25, Under = 4.0;
    const long Slack = 16L << 20;

    [Theory]
    [InlineData("mps.tn", "n=20", 1L, false)]
    [InlineData("mps.tn", "n=20", 1L, true)]
    [InlineData("mps.tn", "n=12,chi=512", 1L, false)]
    [InlineData("mps.tn", "n=12,chi=512", 1L, true)]
    [InlineData("mpo-linear.tn", "", 1000L, false)]
    [InlineData("mpo-linear.tn", "", 1000L, true)]
    [InlineData("mera-classifier.tn", "chi=8", 5000L, false)]
    [InlineData("mera-classifier.tn", "chi=8", 5000L, true)]
    public void The_byte_estimate_bounds_the_measured_peak(string file, string sets, long batch, bool training)
    {
        if (!PeakMemory.Available)
            return; // not Linux with glibc: nothing to measure against
        var overrides = sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        using var module = NetworkModules.FromFile(Repo.Example(file), overrides, new NetworkBuildOptions
        {
            Batch = batch,
            Training = training,
            Module = new NetworkModuleOptions { DType = ScalarType.Float32, Seed = 1 },
        });
        var plan = module.ExecutionPlan;
        var inputs = RandomInputs.Make(module, batch, new Generator(2), ScalarType.Float32);
        try
        {
            long held = (long)plan.Bytes(4).Inputs;
            long rise = PeakMemory.Measure(() =>
            {
                using var scope = NewDisposeScope();
                if (training)
                {
                    module.zero_grad();
                    module.forward(inputs).square().sum().backward();
                }
                else
                    using (no_grad())
                        module.forward(inputs);
            });
            long measured = rise + held;
            long predicted = (long)MemoryGuard.Needed(plan, ScalarType.Float32, training);
            Assert.True(measured <= Over * predicted + Slack, $"measured {measured:N0} bytes, over {Over} x the estimate {predicted:N0} + {Slack:N0}");
            Assert.True(predicted <= Under * measured + Slack, $"estimate {predicted:N0} bytes, over {Under} x the measured {measured:N0} + {Slack:N0}");
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}

using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Tests of process-wide memory state (the measured peak, the guard's limit override) run alone, after the parallel ones.
[CollectionDefinition("peak memory", DisableParallelization = true)]
public sealed class PeakMemoryCollection;

/// The byte estimate of the module's program (MemoryGuard.Needed with the network, what the guard compares) against
/// the peak memory measured while examples run, forward and one training step (mean of squares, backward, Adam): it
/// bounds the measured peak within a stated factor both ways, so it neither lets through what does not fit nor
/// refuses what would.
[Collection("peak memory")]
public class MemoryEstimateTests
{
    static MemoryEstimateTests() => NativeLoader.EnsureLoaded();

    /// The stated bound: measured ≤ Factor × estimate + Slack and estimate ≤ Factor × measured + Slack. Slack covers
    /// what glibc's heap and the runtime add whatever the network (thread stacks, libtorch's small buffers).
    const double Factor = 1.5;
    const long Slack = 8L << 20;

    [Theory]
    [InlineData("mps.tn", "n=20", 1L, false)]
    [InlineData("mps.tn", "n=20", 1L, true)]
    [InlineData("mps.tn", "n=12,chi=512", 1L, false)]
    [InlineData("mps.tn", "n=12,chi=512", 1L, true)]
    [InlineData("mpo-linear.tn", "", 1000L, false)]
    // Read 1.9x here after the other tests under glibc's default heap (its mmap threshold raised by earlier frees);
    // within the bound under the modules' heap policy (NativeHeap).
    [InlineData("mpo-linear.tn", "", 1000L, true)]
    // The one-hot chain (OneHotChain, 49 pairs): its forward held every pair's rows until its end (3.3x the estimate).
    [InlineData("born-machine.tn", "n=100,chi=30", 8000L, false)]
    [InlineData("born-machine.tn", "n=100,chi=30", 8000L, true)]
    [InlineData("mera-classifier.tn", "chi=8", 5000L, false)]
    [InlineData("mera-classifier.tn", "chi=8", 5000L, true)]
    [InlineData("ttn.tn", "L=3,d=6,chi=8", 1L, false)]
    [InlineData("ttn.tn", "L=3,d=6,chi=8", 1L, true)]
    [InlineData("convac.tn", "M=2,Y=16", 1L, true)]
    [InlineData("layers/mera.tn", "chi=8,out=64", 5000L, true)]
    public void The_byte_estimate_bounds_the_measured_peak(string file, string sets, long batch, bool training)
    {
        if (!PeakMemory.Available)
            return; // not Linux with glibc: nothing to measure against
        var overrides = sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        var options = new NetworkModuleOptions { DType = ScalarType.Float32, Seed = 1 };
        using var module = NetworkModules.FromFile(Repo.Example(file), overrides, new NetworkBuildOptions
        {
            Batch = batch,
            Training = training,
            Module = options,
        });
        var inputs = RandomInputs.Make(module, batch, new Generator(2), ScalarType.Float32);
        try
        {
            // Warm up libtorch's kernels (their buffers are the process's, not the network's).
            using (no_grad())
                module.forward(inputs).Dispose();
            long held = module.parameters().Concat(module.buffers()).Concat(inputs).Sum(t => t.numel() * t.element_size());
            using var optimizer = optim.Adam(module.parameters(), 1e-3);
            long rise = PeakMemory.Measure(() =>
            {
                using var scope = NewDisposeScope();
                if (training)
                {
                    optimizer.zero_grad();
                    module.forward(inputs).square().mean().backward();
                    optimizer.step();
                }
                else
                    using (no_grad())
                        module.forward(inputs);
            });
            long measured = rise + held;
            long predicted = (long)MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, training);
            Assert.True(measured <= Factor * predicted + Slack, $"measured {measured:N0} bytes, over {Factor} x the estimate {predicted:N0} + {Slack:N0}");
            Assert.True(predicted <= Factor * measured + Slack, $"estimate {predicted:N0} bytes, over {Factor} x the measured {measured:N0} + {Slack:N0}");
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    /// Under the modules' heap policy a freed tensor of 1 MiB or more is handed back at once: resident memory falls
    /// back to where it was (glibc's default keeps it in its heap once its threshold has risen past the block's size).
    [Fact]
    public void Under_the_heap_policy_a_freed_large_tensor_leaves_resident_memory()
    {
        if (!PeakMemory.Available || NativeHeap.ReturnLargeBlocks() != HeapPolicy.LargeBlocksReturned)
            return; // not glibc, or TN_HEAP=glibc / glibc's own settings in the environment
        // Raise glibc's default threshold as a large free would (no effect once the policy holds).
        using (ones(16L << 20, ScalarType.Byte)) { }
        long before = PeakMemory.Resident();
        var t = ones(8L << 20, ScalarType.Byte);
        long held = PeakMemory.Resident();
        t.Dispose();
        long after = PeakMemory.Resident();
        Assert.True(held - before >= 7L << 20, $"the 8 MiB tensor raised resident memory by {held - before:N0} bytes only");
        Assert.True(after - before < 1L << 20, $"resident memory stayed {after - before:N0} bytes above where it was after the tensor was freed");
    }
}

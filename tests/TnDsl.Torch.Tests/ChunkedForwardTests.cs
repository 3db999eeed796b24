using TnDsl.Api;
using TnDsl.Testing;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// A forward pass that does not fit the memory limit at the rows fed runs the same plan on chunks of rows (the rows of
/// a network whose batch index is open are independent): the values are those of the whole pass, bit for bit where MKL
/// takes one code path whatever the sizes (see <see cref="AssertSame"/>). A
/// training step is not chunked (autograd would keep every chunk's activations): it is refused, naming the most rows
/// that fit; so is a batch index that is summed.
/// </summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class ChunkedForwardTests
{
    static ChunkedForwardTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 3 };

    /// The limit just under the forward pass of <paramref name="module"/> at <paramref name="rows"/>, when a chunked
    /// pass fits it; null when not even a chunk of one row does.
    static long? LimitForcingChunks(NetworkModule module, long rows)
    {
        var options = F64 with { LogScale = module.Options.LogScale };
        var whole = MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, false, rows);
        var limit = (long)whole - 1;
        return MemoryGuard.ChunkNeeded(module.Spec, module.ExecutionPlan, options, rows, 1) <= limit ? limit : null;
    }

    /// The forward pass (and in log-scale <see cref="NetworkModule.ForwardLog(Tensor[])"/>) of <paramref name="chunked"/>
    /// under <paramref name="limit"/>, in chunks, against <paramref name="whole"/>'s without a limit: the same bits.
    static void AssertChunksGiveTheWhole(NetworkModule whole, NetworkModule chunked, Tensor[] inputs, long limit)
    {
        using var noGrad = no_grad();
        using var expected = whole.forward(inputs);
        Assert.Equal(0, whole.ChunkRows);
        using var expectedLog = whole.Options.LogScale ? whole.ForwardLog(inputs) : null;
        MemoryGuard.LimitOverride = limit;
        try
        {
            using var actual = chunked.forward(inputs);
            long rows = inputs[0].size(0);
            Assert.InRange(chunked.ChunkRows, 1, rows - 1);
            Assert.Equal(expected.shape, actual.shape);
            AssertSame(expected, actual);
            if (expectedLog is not null)
            {
                using var log = chunked.ForwardLog(inputs);
                Assert.InRange(chunked.ChunkRows, 1, rows - 1);
                AssertSame(expectedLog.Value, log.Value);
                AssertSame(expectedLog.LogScale, log.LogScale);
                Assert.Equal(expectedLog.BatchAxes, log.BatchAxes);
            }
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// Bit for bit where MKL runs its reproducible code path (<c>MKL_CBWR=COMPATIBLE</c>, one kernel whatever the sizes);
    /// under its default path MKL picks a matrix product's kernel by the matrix's sizes, so a row computed in a chunk may
    /// differ from the same row computed among all the rows in its last bits (1 to 3 units in the last place on the
    /// examples): then within 1e-12 of the largest entry.
    static void AssertSame(Tensor expected, Tensor actual)
    {
        var e = expected.contiguous().data<double>().ToArray();
        var a = actual.contiguous().data<double>().ToArray();
        Assert.Equal(e.Length, a.Length);
        if (Environment.GetEnvironmentVariable("MKL_CBWR") == "COMPATIBLE")
        {
            Assert.Equal(e.Select(BitConverter.DoubleToInt64Bits), a.Select(BitConverter.DoubleToInt64Bits));
            return;
        }
        double scale = e.Select(Math.Abs).DefaultIfEmpty(0).Max();
        for (int k = 0; k < e.Length; k++)
            Assert.True(Math.Abs(e[k] - a[k]) <= 1e-12 * scale, $"entry {k}: {e[k]:R} whole, {a[k]:R} in chunks");
    }

    [Fact]
    public void Random_networks_fed_more_rows_than_fit_run_in_chunks_with_the_values_of_the_whole_pass()
    {
        int runs = 0, chunked = 0;
        const long rows = 40;
        var networks = TnArbitraries.Network();
        static bool Batched(GeneratedNetwork g) => g.Recipe.Batch && g.Recipe.Inputs > 0;
        var batched = Arb.From(networks.Generator.Resize(60).Where(Batched), g => networks.Shrinker(g).Where(Batched));
        var property = Prop.ForAll(batched, g =>
        {
            runs++;
            var net = new NetworkView(g.Network);
            var spec = NetworkAdapter.FromFlat(net);
            Assert.NotNull(MemoryGuard.ChunkIndex(spec));
            // Planned at 2 rows and fed 40: the guard checks the larger batch (the plan's own batch is not checked).
            var plan = Planner.Plan(net, "greedy", 2, 0);
            var options = F64 with { LogScale = runs % 2 == 0 };
            using var whole = new NetworkModule(spec, plan, options);
            using var inChunks = new NetworkModule(spec, plan, options);
            if (LimitForcingChunks(inChunks, rows) is not { } limit)
                return true;
            chunked++;
            WithInputs(whole, rows, 7, inputs => AssertChunksGiveTheWhole(whole, inChunks, inputs, limit));
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(40).WithReplay(new Replay(new Rnd(20261206UL, 19UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(40, runs);
        Assert.True(chunked >= 20, $"only {chunked} of {runs} random networks ran in chunks");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_sliced_plan_runs_its_slices_inside_each_chunk_with_the_values_of_the_whole_pass(bool logScale)
    {
        // mera-classifier sliced at batch 4 (every intermediate cut to the output's size), fed 64 rows.
        var net = Frontend.Load(Repo.Example("mera-classifier.tn"), null, null);
        var plan = Planner.Plan(net, "greedy", 4, 0, OutputLimit.Of(net, 4));
        Assert.True(plan.IsSliced);
        var spec = NetworkAdapter.FromFlat(net);
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        const long rows = 64;
        var limit = LimitForcingChunks(inChunks, rows);
        Assert.NotNull(limit);
        WithInputs(whole, rows, 3, inputs =>
        {
            AssertChunksGiveTheWhole(whole, inChunks, inputs, limit.Value);
            // Every slice of the last chunk ran.
            Assert.All(inChunks.StepRuns, r => Assert.True(r >= 1));
        });
    }

    [Fact]
    public void A_training_step_over_the_limit_is_refused_naming_the_most_rows_that_fit_while_the_forward_pass_runs_in_chunks()
    {
        using var layer = Layers.FromSpec(Repo.Example("layers/peps.tn"));
        var module = layer.Network;
        const long rows = 100_000;
        var options = new NetworkModuleOptions { DType = ScalarType.Float32 };
        var forward = MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, false, rows);
        // Under the forward pass's figure: the forward pass runs in chunks, the training step does not.
        var limit = (long)forward / 2;
        MemoryGuard.LimitOverride = limit;
        try
        {
            var most = MemoryGuard.MostRows(module.Spec, module.ExecutionPlan, options, true, rows);
            Assert.True(MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, true, most) <= limit);
            Assert.True(MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, true, most + 1) > limit);
            using var x = rand(rows, 16);
            var e = Assert.Throws<MemoryLimitException>(() => layer.forward(x));
            Assert.StartsWith("peps_layer (float32) fed a batch of 100,000 (planned for 100), with autograd (a training step), needs", e.Message);
            Assert.Contains($"; feed at most {most:N0} rows per step (a training step is not run in chunks", e.Message);
            using (no_grad())
            using (var y = layer.forward(x))
            {
                Assert.Equal([rows, 10L], y.shape);
                Assert.InRange(module.ChunkRows, 1, rows - 1);
            }
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// X(b, i) W(i, j) with the batch b summed: out(j) = Σ_b Σ_i X[b, i] W[i, j], whose rows are not independent.
    static NetworkView SummedBatch()
    {
        var net = new NetBuilder("summed");
        var b = net.Index("b", 4, dynamic: true);
        var i = net.Index("i", 8);
        var j = net.Index("j", 8);
        net.Tensor("X", Role.Input, [b, i]);
        net.Weight("W", i, j);
        return net.Build(j);
    }

    [Fact]
    public void A_summed_batch_index_is_not_chunked_and_its_refusal_names_the_most_rows_that_fit()
    {
        var net = SummedBatch();
        var spec = NetworkAdapter.FromFlat(net);
        Assert.Null(MemoryGuard.ChunkIndex(spec));
        using var module = new NetworkModule(spec, Planner.Plan(net, "greedy", 4, 0), F64);
        const long rows = 100_000;
        var needed = MemoryGuard.Needed(spec, module.ExecutionPlan, F64, false, rows);
        MemoryGuard.LimitOverride = (long)needed / 2;
        try
        {
            var most = MemoryGuard.MostRows(spec, module.ExecutionPlan, F64, false, rows);
            Assert.InRange(most, 1, rows - 1);
            Assert.Equal(0, MemoryGuard.ChunkRows(spec, module.ExecutionPlan, F64, rows));
            using var x = randn(rows, 8, ScalarType.Float64);
            using var noGrad = no_grad();
            var e = Assert.Throws<MemoryLimitException>(() => module.forward([x]));
            Assert.Equal(needed, e.BytesNeeded);
            Assert.Contains("the forward pass, needs", e.Message);
            Assert.Contains($"; feed at most {most:N0} rows per call;", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void A_module_not_built_for_training_whose_batch_fits_only_in_chunks_is_built_and_runs_them()
    {
        var net = Frontend.Load(Repo.Example("layers/peps.tn"), null, null);
        const long rows = 20_000;
        var build = new NetworkBuildOptions { Batch = rows, Optimizer = "greedy", Module = F64 };
        using var whole = NetworkModules.FromNetwork(net, build);
        var plan = whole.ExecutionPlan;
        // Under the first quarter-step of slicing's limit on intermediates, which is then below the result (Fit): no
        // sliced plan is tried, and the forward pass fits only in chunks.
        var slicing = plan.Bytes(8).Inputs + 4 * 8 * plan.ResultElements - 1;
        var limit = (long)System.Numerics.BigInteger.Min(slicing, MemoryGuard.ChunkNeeded(whole.Spec, plan, F64, rows, rows / 4));
        Assert.True(MemoryGuard.Needed(whole.Spec, plan, F64, false) > limit);
        NetworkModule inChunks;
        MemoryGuard.LimitOverride = limit;
        try
        {
            Assert.InRange(MemoryGuard.ChunkRows(whole.Spec, plan, F64, rows), 1, rows - 1);
            inChunks = NetworkModules.FromNetwork(net, build);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
        using (inChunks)
        {
            // The plan at the batch asked for, as planned without a limit.
            Assert.Equal(plan.Pairs, inChunks.ExecutionPlan.Pairs);
            Assert.Equal(rows, inChunks.ExecutionPlan.Batch);
            // Fed the very batch it was planned for: that batch is checked too, and runs in chunks.
            WithInputs(whole, rows, 5, inputs => AssertChunksGiveTheWhole(whole, inChunks, inputs, limit));
        }
    }

    [Fact]
    public void A_module_built_for_training_whose_batch_does_not_fit_is_refused_naming_the_most_rows_that_fit_its_plan()
    {
        var net = Frontend.Load(Repo.Example("layers/peps.tn"), null, null);
        const long rows = 100_000;
        var build = new NetworkBuildOptions { Batch = rows, Optimizer = "greedy", Training = true };
        var plan = NetworkAdapter.Plan(net, "greedy", rows, 0, null);
        var spec = NetworkAdapter.FromFlat(net);
        var options = new NetworkModuleOptions { DType = ScalarType.Float32 };
        // Over the floor, under the forward pass: nothing trains 100,000 rows, and slicing cannot bring it under.
        var limit = (long)MemoryGuard.Needed(spec, plan, options, false) / 2;
        MemoryGuard.LimitOverride = limit;
        try
        {
            var e = Assert.Throws<MemoryLimitException>(() => NetworkModules.FromNetwork(net, build));
            Assert.StartsWith("peps_layer (float32, batch 100000): training needs", e.Message);
            Assert.Matches(@"; feed at most [0-9,]+ rows per step with this plan \(a training step is not run in chunks", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// Runs <paramref name="check"/> on float64 random inputs of <paramref name="rows"/> rows for
    /// <paramref name="module"/> (seeded), disposing them after.
    static void WithInputs(NetworkModule module, long rows, ulong seed, Action<Tensor[]> check)
    {
        using var generator = new Generator(seed);
        var inputs = RandomInputs.Make(module, rows, generator, ScalarType.Float64);
        try
        {
            check(inputs);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}

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
/// a network are independent along a batch index that is open): the values are those of the whole pass, bit for bit
/// where MKL takes one code path whatever the sizes (see <see cref="AssertSame"/>). With several dynamic indices the
/// rows are cut along one of the open ones, the others whole, or along two nested where one row along any does not
/// fit. A training step is not chunked (autograd would keep every chunk's activations): it is refused, naming the most
/// rows that fit; so is a network whose batch indices are all summed.
/// </summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class ChunkedForwardTests
{
    static ChunkedForwardTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 3 };

    /// The limit just under the forward pass of <paramref name="module"/> at <paramref name="rows"/>, when a chunked
    /// pass fits it (one row along the first index that may be chunked); null when not even a chunk of one row does.
    static long? LimitForcingChunks(NetworkModule module, long rows)
    {
        var options = F64 with { LogScale = module.Options.LogScale };
        var whole = MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, false, rows);
        var limit = (long)whole - 1;
        var one = new ChunkLevel(MemoryGuard.ChunkIndices(module.Spec)[0], rows, 1);
        return MemoryGuard.ChunkNeeded(module.Spec, module.ExecutionPlan, options, MemoryGuard.Sizes(module.Spec, rows), [one]) <= limit ? limit : null;
    }

    /// The forward pass (and in log-scale <see cref="NetworkModule.ForwardLog(Tensor[])"/>) of <paramref name="chunked"/>
    /// under <paramref name="limit"/>, in chunks, against <paramref name="whole"/>'s without a limit or a cap: the same bits.
    /// Returns how the chunked pass ran. Both run on one thread: libtorch's threads split a step by its sizes, so on
    /// several a row computed among fewer rows may be summed in another order (mpo-kernel.tn fed 48 × 20 rows, cut
    /// into 47 and 1 rows along q, on 2 threads under MKL_CBWR=COMPATIBLE).
    static IReadOnlyList<ChunkLevel> AssertChunksGiveTheWhole(NetworkModule whole, NetworkModule chunked, Tensor[] inputs, long limit)
    {
        int threads = get_num_threads();
        set_num_threads(1);
        try
        {
            return ChunksGiveTheWhole(whole, chunked, inputs, limit);
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    static IReadOnlyList<ChunkLevel> ChunksGiveTheWhole(NetworkModule whole, NetworkModule chunked, Tensor[] inputs, long limit)
    {
        using var noGrad = no_grad();
        // Whole: no limit, and no cap (a cap set by the caller holds for the chunked pass).
        var cap = MemoryGuard.ChunkCapOverride;
        MemoryGuard.ChunkCapOverride = long.MaxValue;
        using var expected = whole.forward(inputs);
        Assert.Empty(whole.Chunking);
        using var expectedLog = whole.Options.LogScale ? whole.ForwardLog(inputs) : null;
        MemoryGuard.ChunkCapOverride = cap;
        MemoryGuard.LimitOverride = limit;
        try
        {
            using var actual = chunked.forward(inputs);
            var levels = chunked.Chunking;
            AssertChunked(levels);
            Assert.Equal(expected.shape, actual.shape);
            AssertSame(expected, actual);
            if (expectedLog is not null)
            {
                using var log = chunked.ForwardLog(inputs);
                AssertChunked(chunked.Chunking);
                AssertSame(expectedLog.Value, log.Value);
                AssertSame(expectedLog.LogScale, log.LogScale);
                Assert.Equal(expectedLog.BatchAxes, log.BatchAxes);
            }
            return levels;
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// A call that ran in chunks: fewer rows than fed at every level.
    static void AssertChunked(IReadOnlyList<ChunkLevel> levels)
    {
        Assert.NotEmpty(levels);
        Assert.All(levels, l => Assert.InRange(l.Chunk, 1, l.Rows - 1));
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
            Assert.Single(MemoryGuard.ChunkIndices(spec));
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
                AssertChunked(module.Chunking);
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
        Assert.Empty(MemoryGuard.ChunkIndices(spec));
        using var module = new NetworkModule(spec, Planner.Plan(net, "greedy", 4, 0), F64);
        const long rows = 100_000;
        var needed = MemoryGuard.Needed(spec, module.ExecutionPlan, F64, false, rows);
        MemoryGuard.LimitOverride = (long)needed / 2;
        try
        {
            var most = MemoryGuard.MostRows(spec, module.ExecutionPlan, F64, false, rows);
            Assert.InRange(most, 1, rows - 1);
            Assert.Empty(MemoryGuard.Chunking(spec, module.ExecutionPlan, F64, rows));
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
        var quarter = new ChunkLevel(MemoryGuard.ChunkIndices(whole.Spec)[0], rows, rows / 4);
        var limit = (long)System.Numerics.BigInteger.Min(slicing, MemoryGuard.ChunkNeeded(whole.Spec, plan, F64, MemoryGuard.Sizes(whole.Spec, rows), [quarter]));
        Assert.True(MemoryGuard.Needed(whole.Spec, plan, F64, false) > limit);
        NetworkModule inChunks;
        MemoryGuard.LimitOverride = limit;
        try
        {
            AssertChunked(MemoryGuard.Chunking(whole.Spec, plan, F64, rows));
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

    /// The extents of mpo-kernel.tn's dynamic indices q and k (index id → extent).
    static Dictionary<int, long> Extents(NetworkSpec spec, long queries, long keys) =>
        new() { [Id(spec, "q")] = queries, [Id(spec, "k")] = keys };

    static int Id(NetworkSpec spec, string name) => spec.Indices.Single(i => i.Name == name).Id;

    /// mpo-kernel.tn (rows q of x and k of y, both open) planned at 4 rows by greedy: its spec and plan.
    static (NetworkSpec, PlanView) Kernel()
    {
        var net = Frontend.Load(Repo.Example("mpo-kernel.tn"), null, null);
        return (NetworkAdapter.FromFlat(net), Planner.Plan(net, "greedy", 4, 0));
    }

    /// Runs <paramref name="check"/> on mpo-kernel.tn's float64 inputs (16 sites of 2 features) of
    /// <paramref name="queries"/> rows for x and <paramref name="keys"/> for y (seeded), disposing them after.
    static void WithKernelInputs(long queries, long keys, ulong seed, Action<Tensor[]> check)
    {
        using var generator = new Generator(seed);
        using var x = randn([queries, 16, 2], ScalarType.Float64, generator: generator);
        using var y = randn([keys, 16, 2], ScalarType.Float64, generator: generator);
        check([x, y]);
    }

    /// The fewest chunks of one level that fit <paramref name="limit"/>, by trying every index that may be chunked and
    /// every chunk from the largest down (the oracle of MemoryGuard.Chunking's bisection and choice); 0 where none fits.
    static long FewestChunks(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes, long limit)
    {
        long fewest = 0;
        foreach (var index in MemoryGuard.ChunkIndices(spec))
            for (long chunk = sizes[index] - 1; chunk >= 1; chunk--)
                if (MemoryGuard.ChunkNeeded(spec, plan, options, sizes, [new ChunkLevel(index, sizes[index], chunk)]) <= limit)
                {
                    long count = MemoryGuard.Chunks(sizes[index], chunk);
                    fewest = fewest == 0 ? count : Math.Min(fewest, count);
                    break;
                }
        return fewest;
    }

    [Theory]
    [InlineData(false, 48L, 48L)]
    [InlineData(true, 48L, 48L)]
    [InlineData(false, 48L, 20L)]
    [InlineData(true, 12L, 40L)]
    [InlineData(false, 12L, 40L)]
    [InlineData(false, 20L, 48L)]
    [InlineData(true, 48L, 20L)]
    public void Two_open_dynamic_indices_run_in_chunks_along_the_one_of_fewer_chunks_with_the_values_of_the_whole_pass(bool logScale, long queries, long keys)
    {
        var (spec, plan) = Kernel();
        Assert.Equal([Id(spec, "q"), Id(spec, "k")], MemoryGuard.ChunkIndices(spec));
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        // Under the whole pass as the guard counts it (each dynamic index at the extent fed), over one row along q or
        // k beside the rest whole.
        var sizes = Extents(spec, queries, keys);
        var limit = (long)MemoryGuard.Needed(spec, plan, options, false, sizes) - 1;
        long fewest = FewestChunks(spec, plan, options, sizes, limit);
        Assert.True(fewest > 0);
        WithKernelInputs(queries, keys, 13, inputs =>
        {
            var levels = AssertChunksGiveTheWhole(whole, inChunks, inputs, limit);
            var level = Assert.Single(levels);
            Assert.Equal(sizes[level.Index], level.Rows);
            Assert.Equal(fewest, level.Count);
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Where_one_row_along_either_open_index_does_not_fit_the_rows_run_in_chunks_along_both_nested(bool logScale)
    {
        var (spec, plan) = Kernel();
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        const long rows = 40;
        int q = Id(spec, "q"), k = Id(spec, "k");
        var sizes = Extents(spec, rows, rows);
        System.Numerics.BigInteger Need(params ChunkLevel[] levels) => MemoryGuard.ChunkNeeded(spec, plan, options, sizes, levels);
        // Room for 8 keys beside one query; not for every key beside one query, nor every query beside one key.
        var limit = (long)Need(new(q, rows, 1), new(k, rows, 8));
        Assert.True(Need(new ChunkLevel(q, rows, 1)) > limit);
        Assert.True(Need(new ChunkLevel(k, rows, 1)) > limit);
        WithKernelInputs(rows, rows, 17, inputs =>
        {
            var levels = AssertChunksGiveTheWhole(whole, inChunks, inputs, limit);
            Assert.Equal(2, levels.Count);
            Assert.Equal(1, levels[0].Chunk);
            Assert.InRange(levels[1].Chunk, 8, rows - 1);
            Assert.Equal(rows * levels[1].Count, MemoryGuard.Chunks(levels));
        });
    }

    /// The oracle of balanced chunks: <paramref name="rows"/> rows along <paramref name="index"/> in as few chunks of at
    /// most <paramref name="most"/> rows as they make, shared out evenly: the longest chunk's rows.
    static ChunkLevel Even(int index, long rows, long most)
    {
        long count = (rows + most - 1) / most;
        return new ChunkLevel(index, rows, (rows + count - 1) / count);
    }

    [Fact]
    public void A_levels_chunks_share_its_rows_out_evenly_in_as_few_chunks_as_the_most_rows_make()
    {
        for (long rows = 1; rows <= 120; rows++)
            for (long most = 1; most <= rows; most++)
            {
                var level = ChunkLevel.Balanced(0, rows, most);
                Assert.Equal((rows + most - 1) / most, level.Count);
                var parts = Enumerable.Range(0, (int)level.Count).Select(i => level.Part(i)).ToArray();
                // Contiguous, covering every row once, none over the most rows, differing by one row at most.
                Assert.Equal(0, parts[0].Start);
                for (int i = 1; i < parts.Length; i++)
                    Assert.Equal(parts[i - 1].Start + parts[i - 1].Rows, parts[i].Start);
                Assert.Equal(rows, parts[^1].Start + parts[^1].Rows);
                Assert.Equal(level.Chunk, parts.Max(p => p.Rows));
                Assert.InRange(level.Chunk, 1, most);
                Assert.InRange(parts.Max(p => p.Rows) - parts.Min(p => p.Rows), 0, 1);
            }
    }

    [Fact]
    public void Balanced_chunks_are_described_by_their_two_sizes()
    {
        var spec = NetworkAdapter.FromFlat(SummedBatch());
        int b = spec.Indices.Single(i => i.IsDynamic).Id;
        // tn run's line for layers/mps.tn at 1,000,000 rows in chunks of at most 190,643 rows (64 MiB by the estimate).
        Assert.Equal("6 chunks of 166,666 or 166,667 rows", MemoryGuard.Describe(spec, [ChunkLevel.Balanced(b, 1_000_000, 190_643)]));
        Assert.Equal("6 chunks of 100 rows", MemoryGuard.Describe(spec, [ChunkLevel.Balanced(b, 600, 100)]));
        Assert.Equal("2 chunks of 1 row", MemoryGuard.Describe(spec, [ChunkLevel.Balanced(b, 2, 1)]));
    }

    /// The most rows along <paramref name="index"/> (below its extent) whose chunk's bytes (MemoryGuard.ChunkBytes) are
    /// at most <paramref name="bytes"/>, by trying every chunk from the largest down (the oracle of the cap's
    /// bisection); 0 where not even one row's are.
    static long MostRowsUnder(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes, int index,
        System.Numerics.BigInteger bytes)
    {
        for (long chunk = sizes[index] - 1; chunk >= 1; chunk--)
            if (MemoryGuard.ChunkBytes(spec, plan, options, sizes, [new ChunkLevel(index, sizes[index], chunk)]) <= bytes)
                return chunk;
        return 0;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Under_a_cap_below_what_the_limit_lets_through_each_chunk_is_the_most_rows_within_the_cap_with_the_values_of_the_whole_pass(bool logScale)
    {
        var (spec, plan) = Kernel();
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        const long rows = 48;
        int q = Id(spec, "q"), k = Id(spec, "k");
        var sizes = Extents(spec, rows, rows);
        // The limit lets through 40 rows of q beside every k; the cap, a chunk of about 11 (its bytes at 11 rows).
        var limit = (long)MemoryGuard.ChunkNeeded(spec, plan, options, sizes, [new ChunkLevel(q, rows, 40)]);
        var cap = (long)MemoryGuard.ChunkBytes(spec, plan, options, sizes, [new ChunkLevel(q, rows, 11)]);
        // The oracle: along each index, the most rows that fit the limit and the cap, shared out evenly; the index of the
        // fewest chunks.
        long Most(int index)
        {
            long fit = Enumerable.Range(1, (int)rows - 1).Select(c => (long)c)
                .Last(c => c == 1 || MemoryGuard.ChunkNeeded(spec, plan, options, sizes, [new ChunkLevel(index, rows, c)]) <= limit);
            return Math.Min(fit, Math.Max(1, MostRowsUnder(spec, plan, options, sizes, index, cap)));
        }
        var expected = new[] { Even(q, rows, Most(q)), Even(k, rows, Most(k)) }.MinBy(l => l.Count)!;
        Assert.InRange(Most(expected.Index), 11, 39);
        // 48 rows in chunks of at most 11 rows: 5 chunks of 10 or 9 (not 4 of 11 and one of 4).
        Assert.Equal(10, expected.Chunk);
        MemoryGuard.ChunkCapOverride = cap;
        try
        {
            MemoryGuard.LimitOverride = limit;
            var rule = MemoryGuard.Chunking(spec, plan, options, sizes);
            MemoryGuard.LimitOverride = null;
            Assert.Equal(new[] { expected }, rule);
            WithKernelInputs(rows, rows, 23, inputs =>
                Assert.Equal(rule, AssertChunksGiveTheWhole(whole, inChunks, inputs, limit)));
        }
        finally
        {
            MemoryGuard.ChunkCapOverride = null;
        }
        // Without a cap (the rule before it), the most rows that fit the limit: 40 of q, 2 chunks.
        (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (long.MaxValue, limit);
        try
        {
            Assert.Equal(2, Assert.Single(MemoryGuard.Chunking(spec, plan, options, sizes)).Count);
        }
        finally
        {
            (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (null, null);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_forward_pass_that_fits_whole_but_is_over_the_cap_runs_in_chunks_of_the_cap_with_the_values_of_the_whole_pass(bool logScale)
    {
        var (spec, plan) = Kernel();
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        const long rows = 24;
        int q = Id(spec, "q");
        var sizes = Extents(spec, rows, rows);
        // A cap of 5 rows' bytes along q; no limit set: the whole pass fits. The oracle: along each index the most rows
        // within the cap, the index of the fewest chunks.
        var cap = (long)MemoryGuard.ChunkBytes(spec, plan, options, sizes, [new ChunkLevel(q, rows, 5)]);
        var expectedLevels = new[]
        {
            new[] { q, Id(spec, "k") }.Select(i => Even(i, rows, Math.Max(1, MostRowsUnder(spec, plan, options, sizes, i, cap)))).MinBy(l => l.Count)!,
        };
        Assert.InRange(expectedLevels[0].Chunk, 5, rows / 2);
        int threads = get_num_threads();
        set_num_threads(1);
        try
        {
            WithKernelInputs(rows, rows, 29, inputs =>
            {
                using var noGrad = no_grad();
                // The rule before the cap: whole.
                MemoryGuard.ChunkCapOverride = long.MaxValue;
                using var expected = whole.forward(inputs);
                Assert.Empty(whole.Chunking);
                MemoryGuard.ChunkCapOverride = cap;
                using var actual = inChunks.forward(inputs);
                Assert.Equal(expectedLevels, inChunks.Chunking);
                AssertSame(expected, actual);
                if (logScale)
                {
                    using var log = inChunks.ForwardLog(inputs);
                    Assert.Equal(expectedLevels, inChunks.Chunking);
                    MemoryGuard.ChunkCapOverride = long.MaxValue;
                    using var expectedLog = whole.ForwardLog(inputs);
                    AssertSame(expectedLog.Value, log.Value);
                    AssertSame(expectedLog.LogScale, log.LogScale);
                }
                // Within the cap, whole.
                MemoryGuard.ChunkCapOverride = cap * 8;
                using var within = inChunks.forward(inputs);
                Assert.Empty(inChunks.Chunking);
            });
        }
        finally
        {
            MemoryGuard.ChunkCapOverride = null;
            set_num_threads(threads);
        }
    }

    [Fact]
    public void A_cap_under_one_row_takes_one_row_a_chunk()
    {
        var (spec, plan) = Kernel();
        const long rows = 24;
        int q = Id(spec, "q");
        var sizes = Extents(spec, rows, rows);
        (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (1, (long)MemoryGuard.ChunkNeeded(spec, plan, F64, sizes, [new ChunkLevel(q, rows, 20)]));
        try
        {
            Assert.Equal(new[] { new ChunkLevel(q, rows, 1) }, MemoryGuard.Chunking(spec, plan, F64, sizes));
        }
        finally
        {
            (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (null, null);
        }
    }

    [Fact]
    public void Under_any_cap_where_not_even_one_row_along_both_fits_the_refusal_is_the_same()
    {
        var (spec, plan) = Kernel();
        using var module = new NetworkModule(spec, plan, F64);
        const long rows = 40;
        var sizes = Extents(spec, rows, rows);
        var one = MemoryGuard.ChunkNeeded(spec, plan, F64, sizes, [new(Id(spec, "q"), rows, 1), new(Id(spec, "k"), rows, 1)]);
        string Refusal(long? cap)
        {
            (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (cap, (long)one - 1);
            try
            {
                string message = "";
                WithKernelInputs(rows, rows, 19, inputs =>
                {
                    using var noGrad = no_grad();
                    message = Assert.Throws<MemoryLimitException>(() => module.forward(inputs)).Message;
                });
                return message;
            }
            finally
            {
                (MemoryGuard.ChunkCapOverride, MemoryGuard.LimitOverride) = (null, null);
            }
        }
        var uncapped = Refusal(long.MaxValue);
        Assert.Contains($"; not even a chunk of one row along q by one along k fits beside the whole inputs and result ({MemoryGuard.Format(one)});", uncapped);
        Assert.Equal(uncapped, Refusal(null));
        Assert.Equal(uncapped, Refusal(1));
    }

    [Fact]
    public void Where_not_even_one_row_along_both_fits_the_refusal_names_the_figure()
    {
        var (spec, plan) = Kernel();
        using var module = new NetworkModule(spec, plan, F64);
        const long rows = 40;
        var sizes = Extents(spec, rows, rows);
        var one = MemoryGuard.ChunkNeeded(spec, plan, F64, sizes, [new(Id(spec, "q"), rows, 1), new(Id(spec, "k"), rows, 1)]);
        MemoryGuard.LimitOverride = (long)one - 1;
        try
        {
            WithKernelInputs(rows, rows, 19, inputs =>
            {
                using var noGrad = no_grad();
                var e = Assert.Throws<MemoryLimitException>(() => module.forward(inputs));
                Assert.Contains($"; not even a chunk of one row along q by one along k fits beside the whole inputs and result ({MemoryGuard.Format(one)});", e.Message);
            });
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// X(b, c, i) W(i, j) with the second batch c summed: out(b, j) = Σ_c Σ_i X[b, c, i] W[i, j], independent along b only.
    static NetworkView SummedSecondBatch()
    {
        var net = new NetBuilder("sets");
        var b = net.Index("b", 4, dynamic: true);
        var c = net.Index("c", 4, dynamic: true);
        var i = net.Index("i", 8);
        var j = net.Index("j", 8);
        net.Tensor("X", Role.Input, [b, c, i]);
        net.Weight("W", i, j);
        return net.Build(b, j);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Of_two_dynamic_indices_the_open_one_is_chunked_the_summed_one_kept_whole_with_the_values_of_the_whole_pass(bool logScale)
    {
        var net = SummedSecondBatch();
        var spec = NetworkAdapter.FromFlat(net);
        Assert.Equal([Id(spec, "b")], MemoryGuard.ChunkIndices(spec));
        var plan = Planner.Plan(net, "greedy", 4, 0);
        var options = F64 with { LogScale = logScale };
        using var whole = new NetworkModule(spec, plan, options);
        using var inChunks = new NetworkModule(spec, plan, options);
        const long rows = 40;
        var limit = LimitForcingChunks(inChunks, rows);
        Assert.NotNull(limit);
        WithInputs(whole, rows, 23, inputs =>
        {
            var level = Assert.Single(AssertChunksGiveTheWhole(whole, inChunks, inputs, limit.Value));
            Assert.Equal(Id(spec, "b"), level.Index);
        });
    }

    [Fact]
    public void Fed_one_row_along_its_open_index_a_network_is_refused_naming_the_most_rows_that_fit()
    {
        // sets fed 1 row of b and 20,000 of c: nothing to cut along b, c is summed.
        var net = SummedSecondBatch();
        var spec = NetworkAdapter.FromFlat(net);
        using var module = new NetworkModule(spec, Planner.Plan(net, "greedy", 4, 0), F64);
        const long rows = 20_000;
        using var x = randn([1, rows, 8], ScalarType.Float64);
        var needed = MemoryGuard.Needed(spec, module.ExecutionPlan, F64, false, new Dictionary<int, long> { [Id(spec, "b")] = 1, [Id(spec, "c")] = rows });
        MemoryGuard.LimitOverride = (long)needed / 2;
        try
        {
            using var noGrad = no_grad();
            var e = Assert.Throws<MemoryLimitException>(() => module.forward([x]));
            Assert.StartsWith("sets (float64) fed a batch of b=1, c=20,000 (planned for 4), the forward pass, needs", e.Message);
            Assert.Contains("rows per call along each dynamic index;", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// X(b, i) Y(c, i) W(i, j): both batches summed, out(j), whose rows are independent along neither.
    static NetworkView BothBatchesSummed()
    {
        var net = new NetBuilder("summed2");
        var b = net.Index("b", 4, dynamic: true);
        var c = net.Index("c", 4, dynamic: true);
        var i = net.Index("i", 8);
        var j = net.Index("j", 8);
        net.Tensor("X", Role.Input, [b, i]);
        net.Tensor("Y", Role.Input, [c, i]);
        net.Weight("W", i, j);
        return net.Build(j);
    }

    [Fact]
    public void Two_summed_dynamic_indices_are_not_chunked_and_the_refusal_names_the_most_rows_that_fit()
    {
        var net = BothBatchesSummed();
        var spec = NetworkAdapter.FromFlat(net);
        Assert.Empty(MemoryGuard.ChunkIndices(spec));
        using var module = new NetworkModule(spec, Planner.Plan(net, "greedy", 4, 0), F64);
        const long rows = 100_000;
        var needed = MemoryGuard.Needed(spec, module.ExecutionPlan, F64, false, rows);
        // The inputs are made before the limit is set.
        WithInputs(module, rows, 29, inputs =>
        {
            MemoryGuard.LimitOverride = (long)needed / 2;
            try
            {
                var most = MemoryGuard.MostRows(spec, module.ExecutionPlan, F64, false, rows);
                Assert.InRange(most, 1, rows - 1);
                Assert.Empty(MemoryGuard.Chunking(spec, module.ExecutionPlan, F64, rows));
                using var noGrad = no_grad();
                var e = Assert.Throws<MemoryLimitException>(() => module.forward(inputs));
                Assert.Equal(needed, e.BytesNeeded);
                Assert.Contains($"; feed at most {most:N0} rows per call;", e.Message);
            }
            finally
            {
                MemoryGuard.LimitOverride = null;
            }
        });
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

using System.Numerics;
using TnDsl.Api;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Chunks aligned with the loop order (issue 17, session 10): a chunk of P_m slices (the product of the loops inside
/// position m) runs the steps that depend on outer loops once and the others as one pass over all slices would; the
/// closed-form run counts of SliceChunking equal a slice-by-slice count and the runs the module actually makes; the
/// default chunk size follows its rule, gives the unsliced value, and an explicit or recorded chunk size wins.
public class SliceChunkingTests
{
    static SliceChunkingTests() => NativeLoader.EnsureLoaded();

    /// A closed L x L grid of random tensors with bonds of size D.
    const string GridText =
        "network grid(L: int = 5, D: int = 2) {\n" +
        "  index h[x, y]: D for x in 0..L-2, y in 0..L-1\n" +
        "  index v[x, y]: D for x in 0..L-1, y in 0..L-2\n" +
        "  weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1)\n" +
        "    for x in 0..L-1, y in 0..L-1  init normal(0, 0.5)\n" +
        "  output ()\n}\n";

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The 5 x 5 grid planned by greedy with intermediates of at most <paramref name="elements"/> (sliced to fit).
    static (NetworkView Net, PlanView Plan, SliceChunking Model) Grid(long elements)
    {
        var net = Frontend.LoadText("grid.tn", GridText, null, null);
        var plan = Planner.Plan(net, "greedy", null, 0, elements);
        return (net, plan, SliceChunking.Of(plan, l => net.Indices[l].Size));
    }

    static ContractionJob JobOf(PlanView plan, long chunkSize) => new()
    {
        File = "grid.tn",
        Text = GridText,
        Path = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray(),
        Sliced = plan.SlicedLabels,
        ChunkSize = chunkSize,
        Seed = 5,
    };

    /// Runs of each level when every chunk of <paramref name="chunkSize"/> slices is its own pass, counted slice by
    /// slice from the definition: the first slice of a chunk runs every step, a later one the steps of level ≥ the
    /// loop position where its values first differ from the slice before.
    static long[] CountedRuns(long[] extents, long chunkSize)
    {
        long slices = extents.Aggregate(1L, (a, b) => a * b);
        var runs = new long[extents.Length + 1];
        long[]? previous = null;
        for (long slice = 0; slice < slices; slice++)
        {
            var values = new long[extents.Length];
            for (long k = extents.Length - 1, rest = slice; k >= 0; k--)
                (values[k], rest) = (rest % extents[k], rest / extents[k]);
            int changed = slice % chunkSize == 0 ? 0 : Enumerable.Range(0, values.Length).First(j => values[j] != previous![j]) + 1;
            for (int level = changed; level <= extents.Length; level++)
                runs[level]++;
            previous = values;
        }
        return runs;
    }

    [Fact]
    public void The_closed_form_runs_equal_a_count_slice_by_slice_for_every_chunk_size()
    {
        var (_, plan, model) = Grid(8);
        Assert.Equal(32, model.Slices);  // greedy at 8 elements: 5 bonds sliced (7 before the unneeded ones were unsliced)
        Assert.Equal(plan.SlicedLabels.Length, model.Extents.Count);
        var extents = model.Extents.ToArray();
        for (long chunk = 1; chunk <= model.Slices; chunk++)
        {
            var counted = CountedRuns(extents, chunk);
            for (int level = 0; level <= extents.Length; level++)
                Assert.Equal(counted[level], model.Runs(level, chunk));
        }
        // One chunk is one pass: each step runs N_s times, the planner's executed flops; one slice per chunk runs
        // every step in every slice.
        Assert.Equal(plan.SlicedFlops, model.ExecutedFlops(model.Slices));
        Assert.Equal(plan.EverySliceFlops, model.ExecutedFlops(1));
        Assert.Equal(new BigInteger(model.Slices * plan.Steps.Count), model.StepRuns(1));
    }

    [Fact]
    public void A_chunk_aligned_at_loop_m_runs_each_step_of_level_up_to_m_once_and_the_others_once_per_value_of_their_loops()
    {
        var (net, plan, model) = Grid(8);
        using var module = new NetworkModule(NetworkAdapter.FromFlat(net), plan, F64);
        var levels = model.Levels;
        int k = model.Extents.Count;
        for (int m = 0; m <= k; m++)
        {
            long size = model.Inner(m), chunks = model.Slices / size, middle = chunks / 2;
            using var scope = NewDisposeScope();
            module.ForwardSlices([], middle * size, size);
            var expected = levels.Select(l => l <= m ? 1 : size / model.Inner(l)).ToArray();
            Assert.Equal(expected, module.StepRuns);
            // Over all chunks: the outer steps once per chunk, the inner ones exactly as in one pass over all slices.
            for (int s = 0; s < levels.Count; s++)
                Assert.Equal(chunks * expected[s], model.Runs(levels[s], size));
        }
        // The plan has steps at outer levels, which chunks of one slice would rerun in every slice.
        Assert.Contains(levels, l => l > 0 && l < k);
    }

    [Fact]
    public void The_default_chunk_follows_its_rule_and_gives_the_unsliced_value_with_the_flops_the_model_counts()
    {
        var (net, plan, model) = Grid(4);
        long slices = model.Slices;
        Assert.Equal(1024, slices);
        long chunk = model.DefaultChunkSize();
        int k = model.Extents.Count;
        // Aligned: P_m for the m of the rule (here under 4096 chunks, so no multiple is needed).
        int m = Enumerable.Range(0, k + 1).Single(j => model.Inner(j) == chunk);
        int coarsest = Enumerable.Range(0, k + 1).First(j => slices / model.Inner(j) >= SliceChunking.MinChunks);
        Assert.True(m >= coarsest);
        var least = (double)model.ExecutedFlops(model.Inner(coarsest));
        Assert.True((double)model.ExecutedFlops(chunk) <= 1.01 * least);
        Assert.True(m == k || (double)model.ExecutedFlops(model.Inner(m + 1)) > 1.01 * least || slices / model.Inner(m + 1) > SliceChunking.MaxChunks);
        // Fewer flops than the old default (one slice per chunk here) when chunks run apart.
        long old = ContractionJob.UnalignedChunkSize(slices);
        Assert.Equal(1, old);
        Assert.True(model.ExecutedFlops(chunk) * 2 < model.ExecutedFlops(old), $"{model.ExecutedFlops(chunk)} against {model.ExecutedFlops(old)}");

        double expected;
        using (var unsliced = new NetworkModule(NetworkAdapter.FromFlat(net), Planner.Plan(net, "greedy", null, 0), F64))
        using (no_grad())
        using (var y = unsliced.forward([]))
            expected = y.item<double>();
        foreach (var size in new[] { chunk, old })
        {
            using var work = ContractionJobs.Open(JobOf(plan, size));
            Assert.Equal((slices + size - 1) / size, work.Chunks);
            var parts = Enumerable.Range(0, (int)work.Chunks).Select(c => work.ContractChunk(c)).ToArray();
            var value = parts.Aggregate(0.0, (a, p) => a + p[0]);
            Assert.True(Math.Abs(value - expected) <= 1e-12 * Math.Abs(expected), $"chunks of {size}: {value:R} against {expected:R}");
            // Every chunk its own pass: the runs and flops counted are the model's.
            Assert.Equal((long)model.StepRuns(size), work.Executed.StepRuns);
            Assert.Equal((double)model.ExecutedFlops(size), work.Executed.Flops);
            // All chunks in one pass: the same bits per chunk, and the planner's executed flops.
            var before = work.Executed;
            var together = work.ContractChunks(Enumerable.Range(0, (int)work.Chunks).Select(c => (long)c).ToArray());
            Assert.Equal(parts.Select(p => BitConverter.DoubleToInt64Bits(p[0])), together.Select(p => BitConverter.DoubleToInt64Bits(p[0])));
            Assert.Equal((double)plan.SlicedFlops, (work.Executed - before).Flops);
        }
    }

    [Fact]
    public void An_explicit_chunk_size_wins_over_the_default_and_a_replayed_record_keeps_its_own()
    {
        var dir = Directory.CreateTempSubdirectory("tndsl-chunks-");
        try
        {
            var file = Path.Combine(dir.FullName, "grid.tn");
            File.WriteAllText(file, GridText);
            MemoryGuard.LimitOverride = 4 << 10;
            var overrides = Repo.Set(("L", 5));
            var (job, plan, net) = ContractionJobs.Create(file, new ContractionJobs.Options { Overrides = overrides, Optimizer = "greedy" });
            Assert.True(plan.IsSliced);
            Assert.Equal(ContractionJob.DefaultChunkSize(plan, net), job.ChunkSize);
            long other = job.ChunkSize + 1;
            var (chosen, _, _) = ContractionJobs.Create(file, new ContractionJobs.Options { Overrides = overrides, Optimizer = "greedy", ChunkSize = other });
            Assert.Equal(other, chosen.ChunkSize);
            // A record of the chosen job, saved and loaded: replayed without a chunk size, the job is the recorded one.
            var path = Path.Combine(dir.FullName, "run.json");
            using (var work = ContractionJobs.Open(chosen))
                new ContractionJobRecord(chosen, work.Chunks, 1).Save(path);
            var record = ContractionJobRecord.Load(path);
            Assert.Equal(other, record.ChunkSize);
            var (replayed, _, _) = ContractionJobs.Create(file, new ContractionJobs.Options { Overrides = overrides, Optimizer = "greedy", Replay = record });
            Assert.Equal(other, replayed.ChunkSize);
            Assert.Equal(chosen.Hash, replayed.Hash);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
            dir.Delete(recursive: true);
        }
    }
}

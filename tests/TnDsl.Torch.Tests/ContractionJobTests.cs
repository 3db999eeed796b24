using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TnDsl.Api;
using TnDsl.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Contraction jobs (issue 21): the bytes a worker is sent, and the slices they open as (ISliceWork). Chunks summed in
/// chunk order give the module's value; the bytes round-trip and refuse corruption; `use`d files and weights travel
/// in the job, never read from disk by who opens it.
public class ContractionJobTests
{
    static ContractionJobTests() => NativeLoader.EnsureLoaded();

    /// The sum of every chunk, added in chunk order (what one machine and a cluster both do).
    static double[] Total(ISliceWork work)
    {
        double[]? total = null;
        for (long c = 0; c < work.Chunks; c++)
        {
            var part = work.ContractChunk(c);
            if (total is null)
                total = part;
            else
                for (int i = 0; i < total.Length; i++)
                    total[i] += part[i];
        }
        return total!;
    }

    static double[] Values(Tensor t)
    {
        using var c = t.contiguous();
        return c.data<double>().ToArray();
    }

    static void AssertClose(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1e-300, expected.Select(Math.Abs).DefaultIfEmpty(0).Max());
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-9 * scale, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    static ContractionJob JobOf(string file, string text, PlanView plan, long chunkSize, long seed = 5, byte[]? weights = null) => new()
    {
        File = file,
        Text = text,
        Path = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray(),
        Sliced = plan.SlicedLabels,
        ChunkSize = chunkSize,
        Seed = seed,
        Weights = weights,
    };

    /// A random network of the testing kit with its inputs made weights (a job contracts weights and consts alone).
    static string ClosedText(GeneratedNetwork g)
    {
        var r = g.Recipe;
        var recipe = new NetworkRecipe(r.Topology, r.Tensors, r.ExtraBonds, r.MaxDim, r.OpenLegs, r.Hyper, r.HyperOpen,
                                       r.CopyLegs, r.Tied, 0, false, r.Seed);
        return TnText.ofNetwork(Networks.build(recipe));
    }

    [Fact]
    public void Chunks_of_sliced_random_networks_add_up_to_the_module_forward()
    {
        int runs = 0, sliced = 0;
        var networks = TnArbitraries.Network();
        var property = Prop.ForAll(Arb.From(networks.Generator.Resize(80), networks.Shrinker), g =>
        {
            runs++;
            var text = ClosedText(g);
            var net = Frontend.LoadText("random.tn", text, null, null);
            long limit = OutputLimit.Of(net);
            PlanView plan;
            try
            {
                plan = Planner.Plan(net, "greedy", null, 0, limit);
            }
            catch (TnException e) when (e.Diagnostics.Any(d => d.Code == "TN0301"))
            {
                plan = Planner.Plan(net, "greedy", null, 0);
            }
            if (plan.IsSliced)
                sliced++;
            var spec = NetworkAdapter.FromFlat(net);
            var f64 = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 5 };
            using var unsliced = new NetworkModule(spec, Planner.Plan(net, "greedy", null, 0), f64);
            using var module = new NetworkModule(spec, plan, f64);
            double[] reference, forward;
            using (no_grad())
            {
                using var u = unsliced.forward([]);
                using var f = module.forward([]);
                reference = Values(u);
                forward = Values(f);
            }
            long slices = (long)plan.Slices;
            // One chunk of every slice adds them in the forward's own order: the very same bits.
            using (var whole = ContractionJobs.Open(JobOf("random.tn", text, plan, slices)))
            {
                Assert.Equal(1, whole.Chunks);
                Assert.Equal(slices, whole.Slices);
                Assert.Equal(spec.Output.Select(l => spec.Indices[l].Size), whole.Shape);
                Assert.Equal(forward, Total(whole));
            }
            // Smaller chunks change the order of the additions only.
            long chunk = 1 + g.Recipe.Seed % 3;
            using (var work = ContractionJobs.Open(JobOf("random.tn", text, plan, chunk)))
            {
                Assert.Equal((slices + chunk - 1) / chunk, work.Chunks);
                AssertClose(reference, Total(work), g.ToString());
                // Chunks contracted together, in one pass that reuses across their boundaries, starting mid-way and
                // with a gap: each the very bits of the chunk contracted alone.
                long[] some = [.. Enumerable.Range(0, (int)work.Chunks).Select(c => (long)c).Where(c => c != work.Chunks / 2).Skip(work.Chunks > 2 ? 1 : 0)];
                var together = work.ContractChunks(some);
                for (int i = 0; i < some.Length; i++)
                    Assert.Equal(work.ContractChunk(some[i]), together[i]);
            }
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(40).WithReplay(new Replay(new Rnd(20261205UL, 21UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(40, runs);
        Assert.True(sliced >= 10, $"only {sliced} of {runs} random networks were sliced");
    }

    [Fact]
    public void Slice_ranges_of_a_module_add_up_to_its_forward_and_refuse_ranges_outside_the_plan()
    {
        var net = Frontend.Load(Repo.Example("peps.tn"), Repo.Set(("Lx", 2), ("Ly", 3), ("D", 3)), null);
        var plan = Planner.Plan(net, "greedy", null, 0, 64);
        Assert.True(plan.IsSliced);
        long slices = (long)plan.Slices;
        using var module = new NetworkModule(NetworkAdapter.FromFlat(net), plan, new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 2 });
        using var scope = NewDisposeScope();
        var whole = Values(module.forward([]).detach());
        var first = module.ForwardSlices([], 0, slices / 2);
        var rest = module.ForwardSlices([], slices / 2, slices - slices / 2);
        Assert.False(first.requires_grad);
        AssertClose(whole, Values(ScalarOps.Plus(first, rest)), "two ranges");
        Assert.Equal(whole, Values(module.ForwardSlices([], 0, slices)));
        Assert.Throws<ArgumentOutOfRangeException>(() => module.ForwardSlices([], slices - 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => module.ForwardSlices([], -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => module.ForwardSlices([], 0, 0));
    }

    static ContractionJob SampleJob() => new()
    {
        File = "dir/main.tn",
        Text = "use \"part.tn\"\nnetwork n(k: int = 2) { … }",
        Uses = [KeyValuePair.Create("dir/part.tn", "network part { }"), KeyValuePair.Create("dir/other.tn", "// é ∑")],
        Overrides = [KeyValuePair.Create("k", "3")],
        Network = "n",
        Path = [(0, 1), (2, 0)],
        Sliced = [4, 7],
        DType = ScalarType.Float32,
        Weights = [1, 2, 3, 255],
        Seed = -9,
        ChunkSize = 17,
    };

    [Fact]
    public void Job_bytes_round_trip_every_field()
    {
        var job = SampleJob();
        var bytes = job.ToBytes();
        var back = ContractionJob.FromBytes(bytes);
        Assert.Equal(job.File, back.File);
        Assert.Equal(job.Text, back.Text);
        Assert.Equal(job.Uses, back.Uses);
        Assert.Equal(job.Overrides, back.Overrides);
        Assert.Equal(job.Network, back.Network);
        Assert.Equal(job.Path, back.Path);
        Assert.Equal(job.Sliced, back.Sliced);
        Assert.Equal(job.DType, back.DType);
        Assert.Equal(job.Weights, back.Weights);
        Assert.Equal(job.Seed, back.Seed);
        Assert.Equal(job.ChunkSize, back.ChunkSize);
        Assert.Equal(bytes, back.ToBytes());
        Assert.Equal(job.Hash, back.Hash);
        var none = ContractionJob.FromBytes((job with { Network = null, Weights = null }).ToBytes());
        Assert.Null(none.Network);
        Assert.Null(none.Weights);
        Assert.NotEqual(job.Hash, (job with { ChunkSize = 18 }).Hash);
    }

    /// Bytes with a valid checksum over a body changed by <paramref name="change"/>: what a careless writer, not a
    /// damaged transfer, would send.
    static byte[] Resealed(byte[] bytes, Action<byte[]> change)
    {
        var body = bytes[..^32];
        change(body);
        return [.. body, .. SHA256.HashData(body)];
    }

    [Fact]
    public void Corrupted_job_bytes_are_refused_cleanly()
    {
        var bytes = SampleJob().ToBytes();
        // Any one byte changed, or the bytes cut short or lengthened, fails the checksum or the header.
        for (int at = 0; at < bytes.Length; at += 3)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[at] ^= 0x40;
            Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes(flipped));
        }
        foreach (var length in new[] { 0, 5, 8, 40, bytes.Length - 1 })
            Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes(bytes[..length]));
        Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes([.. bytes, 0]));
        // Another version, even with a valid checksum.
        Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes(Resealed(bytes, b => b[6] = 2)));
        // A length that claims more than the buffer holds is refused before anything is allocated: the first string's
        // length (a 7-bit integer after the magic and version) made 2^28 - 1.
        Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes(Resealed(bytes, b => { b[8] = 0xff; b[9] = 0xff; b[10] = 0xff; b[11] = 0x7f; })));
        // A chunk size of 0 (the last field).
        Assert.Throws<InvalidDataException>(() => ContractionJob.FromBytes(Resealed(bytes, b => b.AsSpan(b.Length - 8).Clear())));
    }

    [Fact]
    public void Used_files_travel_in_the_job_and_are_never_read_by_who_opens_it()
    {
        var dir = Directory.CreateTempSubdirectory("tndsl-job-");
        Directory.CreateDirectory(Path.Combine(dir.FullName, "lib"));
        var main = Path.Combine(dir.FullName, "main.tn");
        File.WriteAllText(Path.Combine(dir.FullName, "lib", "ring.tn"),
            "network ring(n: int = 3, d: int = 2) {\n  index b[i]: d for i in 0..n-1\n  index p: 2\n" +
            "  weight A[i]: (b[i], b[(i + 1) % n]) for i in 1..n-1\n  weight P: (p, b[0], b[1])\n  output (p)\n}\n");
        File.WriteAllText(main,
            "use \"lib/ring.tn\"\nnetwork closed(m: int = 4) {\n  index q: 2\n  index r: m\n" +
            "  instance a: ring(n = 4, d = 3) { p = q }\n  weight H: (q, r)\n  output (r)\n}\n");
        double[] direct;
        ContractionJob job;
        try
        {
            (job, _, _) = ContractionJobs.Create(main, new ContractionJobs.Options { Overrides = Repo.Set(("m", 5)), Seed = 3 });
            Assert.Single(job.Uses);
            Assert.EndsWith("ring.tn", job.Uses[0].Key);
            using var module = NetworkModules.FromFile(main, Repo.Set(("m", 5)), new NetworkBuildOptions
            {
                Module = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 3 },
            });
            using (no_grad())
            using (var y = module.forward([]))
                direct = Values(y);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
        // The files are gone: the job alone compiles.
        using (var work = ContractionJobs.Open(ContractionJob.FromBytes(job.ToBytes())))
        {
            Assert.Equal([5L], work.Shape);
            AssertClose(direct, Total(work), "contracted from the bundle");
        }
        // A bundle without the used file is an error at the `use`, not a read from disk.
        var e = Assert.Throws<TnException>(() => ContractionJobs.Open(job with { Uses = [] }));
        Assert.Contains(e.Diagnostics, d => d.Code == "TN0007" && d.Line == 1);
    }

    [Fact]
    public void Weights_in_the_job_are_the_ones_contracted_and_weights_of_another_shape_are_refused()
    {
        var text = File.ReadAllText(Repo.Example("peps.tn"));
        var overrides = Repo.Set(("Lx", 2), ("Ly", 2), ("D", 2));
        var net = Frontend.LoadText("peps.tn", text, overrides, null);
        var plan = Planner.Plan(net, "greedy", null, 0);
        var spec = NetworkAdapter.FromFlat(net);
        var f64 = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 1 };
        using var trained = new NetworkModule(spec, plan, f64);
        using var other = new NetworkModule(spec, plan, f64 with { Seed = 2 });
        byte[] weights;
        using (var stream = new MemoryStream())
        {
            using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                trained.save(w);
            weights = stream.ToArray();
        }
        double[] expected, seeded;
        using (no_grad())
        {
            using var a = trained.forward([]);
            using var b = other.forward([]);
            expected = Values(a);
            seeded = Values(b);
        }
        var job = JobOf("peps.tn", text, plan, 1, seed: 2, weights) with { Overrides = overrides };
        using (var work = ContractionJobs.Open(job))
            Assert.Equal(expected, Total(work));
        using (var work = ContractionJobs.Open(job with { Weights = null }))
            Assert.Equal(seeded, Total(work));
        // The same state dict on a larger PEPS: its tensors' shapes differ.
        var bigger = Repo.Set(("Lx", 2), ("Ly", 2), ("D", 3));
        var biggerPlan = Planner.Plan(Frontend.LoadText("peps.tn", text, bigger, null), "greedy", null, 0);
        Assert.Throws<InvalidDataException>(() => ContractionJobs.Open(JobOf("peps.tn", text, biggerPlan, 1, weights: weights) with { Overrides = bigger }));
        Assert.Throws<InvalidDataException>(() => ContractionJobs.Open(job with { Weights = [1, 2, 3] }));
    }

    [Fact]
    public void A_network_with_inputs_is_refused_and_a_plan_slicing_an_open_leg_too()
    {
        var born = File.ReadAllText(Repo.Example("born-machine.tn"));
        var set = Repo.Set(("n", 4), ("chi", 2));
        var net = Frontend.LoadText("born-machine.tn", born, set, null);
        var plan = Planner.Plan(net, "greedy", null, 0);
        Assert.Throws<TnException>(() => ContractionJobs.Open(JobOf("born-machine.tn", born, plan, 1) with { Overrides = set }));
        var peps = File.ReadAllText(Repo.Example("peps.tn"));
        var small = Repo.Set(("Lx", 2), ("Ly", 2), ("D", 2));
        var pnet = Frontend.LoadText("peps.tn", peps, small, null);
        var pplan = Planner.Plan(pnet, "greedy", null, 0);
        Assert.Throws<TnException>(() => ContractionJobs.Open(JobOf("peps.tn", peps, pplan, 1) with { Overrides = small, Sliced = [pnet.Output[0]] }));
    }
}

/// The record of finished chunks (issue 21's resume): chunks finished in any order add up in chunk order, and the
/// record survives a save and a load bit for bit.
public class ContractionJobRecordTests
{
    static readonly ContractionJob Job = new() { File = "x.tn", Text = "", Path = [(0, 1)], Sliced = [3], ChunkSize = 2 };

    static double[] Chunk(long c) => [Math.Sqrt(c + 2) * 1e-3, 1.0 / (c + 3), Math.PI * c];

    [Fact]
    public void Chunks_finished_in_any_order_give_the_bits_of_chunk_order()
    {
        const int chunks = 9;
        var inOrder = new double[3];
        for (long c = 0; c < chunks; c++)
            for (int i = 0; i < 3; i++)
                inOrder[i] = c == 0 ? Chunk(c)[i] : inOrder[i] + Chunk(c)[i];
        var record = new ContractionJobRecord(Job, chunks, 3);
        foreach (var c in new long[] { 4, 8, 0, 2, 1, 7, 3, 6, 5, 2 })
            record.Add(c, Chunk(c));
        Assert.True(record.IsComplete);
        Assert.Equal(inOrder, record.Total());
        Assert.Throws<ArgumentOutOfRangeException>(() => record.Add(chunks, Chunk(0)));
        Assert.Throws<ArgumentException>(() => new ContractionJobRecord(Job, chunks, 3).Add(0, [1.0]));
    }

    [Fact]
    public void A_saved_record_loads_with_its_finished_chunks_and_a_damaged_one_is_refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tndsl-record-{Guid.NewGuid():N}.json");
        try
        {
            var record = new ContractionJobRecord(Job, 6, 3);
            foreach (var c in new long[] { 0, 1, 4 })
                record.Add(c, Chunk(c));
            record.Add(2, [double.NaN, double.PositiveInfinity, -0.0]);
            record.Save(path);
            var back = ContractionJobRecord.Load(path);
            Assert.Equal(Job.Hash, back.JobHash);
            Assert.Equal(Job.Path, back.Path);
            Assert.Equal(Job.Sliced, back.Sliced);
            Assert.Equal(Job.ChunkSize, back.ChunkSize);
            Assert.Equal(3, back.Folded);
            Assert.Equal(4, back.Finished);
            Assert.Equal([3L, 5L], back.Unfinished());
            foreach (var c in new long[] { 3, 5 })
            {
                record.Add(c, Chunk(c));
                back.Add(c, Chunk(c));
            }
            Assert.Equal(record.Total(), back.Total());
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"folded\":3", "\"folded\":7"));
            Assert.Throws<InvalidDataException>(() => ContractionJobRecord.Load(path));
            File.WriteAllText(path, "{ not json");
            Assert.Throws<InvalidDataException>(() => ContractionJobRecord.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using System.Diagnostics;
using System.Text;
using TnDsl.BornMachine;
using TnDsl.Torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>soak [--count N] [--seed S]</c>: runs every file reader (.npy, checkpoints, JSON networks) against N mutated
/// copies of a valid file each (bytes flipped, set to extremes, inserted, deleted, truncated; digits in the header
/// replaced by huge or negative numbers) and prints per reader the inputs tried, how many were accepted and refused,
/// the escapes (any exception other than the reader's own refusal: each is a bug) and the worst time per input.
/// Outside CI: a seeded, bounded property test per reader runs there instead.
/// </summary>
public static class SoakBench
{
    /// <summary>Runs the soak and returns the number of escapes.</summary>
    public static int Run(int count, int seed, string examples)
    {
        var rng = new Random(seed);
        // The limit a real run would have is kept small so that a mutated size that passes validation cannot take
        // the machine's memory: refusals by the guard count as refusals.
        MemoryGuard.LimitOverride = 256L << 20;
        var npy = File.ReadAllBytes(Path.Combine(examples, "data", "born-machine", "bars-and-stripes", "bs4x4.npy"));
        var checkpoint = ValidCheckpoint(examples);
        var json = Encoding.UTF8.GetBytes("""
            {"tensors": [{"name": "A", "indices": ["a", "b"]}, {"name": "B", "indices": ["b", "c"], "trainable": false}],
             "sizes": {"a": 2, "b": 3, "c": 4}, "output": ["a", "c"]}
            """);
        int escapes = 0;
        escapes += Soak("npy", npy, count, rng, bytes =>
        {
            try { Npy.Parse(bytes); return true; }
            catch (Exception e) when (e is NpyFormatException or MemoryLimitException) { return false; }
        });
        var path = Path.Combine(Path.GetTempPath(), $"tn-soak-{Environment.ProcessId}.bin");
        escapes += Soak("checkpoint", checkpoint, count, rng, bytes =>
        {
            File.WriteAllBytes(path, bytes);
            try
            {
                var (_, model) = Checkpoint.Load(path);
                model.Dispose();
                return true;
            }
            catch (Exception e) when (e is InvalidDataException or MemoryLimitException) { return false; }
        });
        File.Delete(path);
        escapes += Soak("json network", json, count, rng, bytes =>
        {
            var text = Encoding.UTF8.GetString(bytes);
            return PlanInput.ofJson("soak.json", text).IsOk;
        });
        MemoryGuard.LimitOverride = null;
        return escapes;
    }

    static int Soak(string name, byte[] valid, int count, Random rng, Func<byte[], bool> read)
    {
        int accepted = 0, refused = 0, escapes = 0;
        double worst = 0;
        var clock = new Stopwatch();
        for (int k = 0; k < count; k++)
        {
            var input = Mutate(valid, rng);
            clock.Restart();
            try
            {
                if (read(input)) accepted++; else refused++;
            }
            catch (Exception e)
            {
                escapes++;
                if (escapes <= 5)
                    Console.WriteLine($"  ESCAPE in {name} (input {k}): {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            }
            worst = Math.Max(worst, clock.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"{name,-14} {count,7} inputs  {accepted,6} accepted  {refused,6} refused  {escapes,3} escapes  worst {worst,8:F2} ms");
        return escapes;
    }

    static readonly string[] Numbers = ["99999999999999999999", "-1", "0", "4294967296", "9223372036854775807", "1e30", "x", "", "2305843009213693952", "1099511627776"];

    /// One to four mutations of a copy of the file.
    static byte[] Mutate(byte[] valid, Random rng)
    {
        var b = new List<byte>(valid);
        int n = rng.Next(1, 5);
        for (int m = 0; m < n && b.Count > 0; m++)
        {
            int at = rng.Next(b.Count);
            switch (rng.Next(7))
            {
                case 0: b[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: b[at] = rng.Next(2) == 0 ? (byte)0 : (byte)0xFF; break;
                case 2: b.Insert(at, (byte)rng.Next(256)); break;
                case 3: b.RemoveAt(at); break;
                case 4: b.RemoveRange(at, b.Count - at); break;
                case 5:
                    {
                        // A number in the text (header, JSON) replaced by an extreme one.
                        int start = b.FindIndex(Math.Min(at, b.Count - 1), x => x is >= (byte)'0' and <= (byte)'9');
                        if (start < 0) break;
                        int end = start;
                        while (end < b.Count && b[end] is >= (byte)'0' and <= (byte)'9') end++;
                        b.RemoveRange(start, end - start);
                        b.InsertRange(start, Encoding.ASCII.GetBytes(Numbers[rng.Next(Numbers.Length)]));
                        break;
                    }
                default:
                    {
                        // A little-endian length field at the start set to an extreme value.
                        var v = BitConverter.GetBytes(rng.Next(3) switch { 0 => 0xFFFFFFF0u, 1 => 0x7FFFFFFFu, _ => (uint)rng.Next() });
                        for (int j = 0; j < 4 && 8 + j < b.Count; j++) b[(rng.Next(2) == 0 ? 0 : 8) + j] = v[j];
                        break;
                    }
            }
        }
        return b.ToArray();
    }

    /// A checkpoint of one training loop on bars-and-stripes (16 sites, Dmax 4), as bytes.
    static byte[] ValidCheckpoint(string examples)
    {
        var data = BornData.Load(Path.Combine(examples, "data", "born-machine", "bars-and-stripes"));
        var file = Path.Combine(examples, "born-machine.tn");
        var layout = BornSetup.LoadLayout(file, [new("n", "16")], data.Train.Size);
        using var trainer = BornTrainer.Start(layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout),
            new BornOptions { Dmax = 4, LearningRate = 0.05, Seed = 1 });
        trainer.RunLoop();
        var path = Path.Combine(Path.GetTempPath(), $"tn-soak-valid-{Environment.ProcessId}.bin");
        Checkpoint.Save(path, trainer.State(file, layout, "bars-and-stripes", 4, 4), trainer.Model);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }
}

namespace TnDsl.Cli.Commands;

using System.Globalization;
using TnDsl.BornMachine;

/// <summary>
/// <c>tn sample MODEL [-n 64] [-o samples.png]</c>: exact independent samples from a trained Born machine (a
/// checkpoint written by <c>tn train born-machine</c>, or the directory holding it) drawn as a PNG grid, and
/// optionally the run's NLL-per-loop plot against the authors' figure.
/// </summary>
public static class SampleCommand
{
    const string Usage =
        "usage: tn sample MODEL [-n 64] [-o samples.png] [--seed S] [--columns C] [--scale 4] [--plot nll.png]\n" +
        "  MODEL     a checkpoint.bin written by tn train born-machine, or its directory";

    /// <summary>Runs the command: 0 success, 1 unreadable model, 2 usage errors.</summary>
    public static int Run(string[] argv)
    {
        if (argv.Contains("--help") || argv.Contains("-h"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        var args = Args.Parse(argv, ["--count", "--output", "--seed", "--columns", "--scale", "--plot"], [],
            new Dictionary<string, string> { ["-n"] = "--count", ["-o"] = "--output" });
        var model = args.Single("MODEL (a checkpoint or its directory)");
        int count = Int(args, "--count", 64, 1);
        int scale = Int(args, "--scale", 4, 1);
        int columns = Int(args, "--columns", (int)Math.Ceiling(Math.Sqrt(count)), 1);
        ulong seed = (ulong)Int(args, "--seed", 1, 0);
        var output = args.Value("--output") ?? "samples.png";
        var path = Directory.Exists(model) ? Path.Combine(model, "checkpoint.bin") : model;
        CheckpointState state;
        Mps mps;
        try
        {
            (state, mps) = Checkpoint.Load(path);
        }
        catch (InvalidDataException e)
        {
            Console.Error.WriteLine($"tn sample: {e.Message}");
            return 1;
        }
        using (mps)
        {
            var samples = mps.Sample(count, new SplitMix64(seed));
            File.WriteAllBytes(output, Grid(samples, count, state.SitePixels, state.ImageWidth, state.ImageHeight, columns, scale));
        }
        Console.WriteLine($"wrote {count} samples to {output} (loop {state.History[^1].Loop}, train NLL {state.History[^1].TrainNll.ToString("F3", CultureInfo.InvariantCulture)})");
        if (args.Value("--plot") is { } plot)
        {
            BornPlot.WriteNll(plot, state.History, state.Options.Dmax, state.SitePixels.Length == 784);
            Console.WriteLine($"wrote the NLL plot to {plot}");
        }
        return 0;
    }

    /// <summary>Samples (count, n) in site order, put back into pixel order and drawn as a PNG grid.</summary>
    public static byte[] Grid(long[] samples, int count, int[] sitePixels, int width, int height, int columns, int scale = 4)
    {
        int n = sitePixels.Length;
        if (width * height != n)
            (width, height) = (n, 1);
        var images = new long[samples.Length];
        for (int s = 0; s < count; s++)
            for (int k = 0; k < n; k++)
                images[(long)s * n + sitePixels[k]] = samples[(long)s * n + k];
        return Png.ImageGrid(images, count, width, height, columns, scale);
    }

    static int Int(Args args, string name, int fallback, int min)
    {
        var v = args.Value(name);
        if (v is null) return fallback;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) || x < min)
            throw new UsageException($"{(name == "--count" ? "-n (--count)" : name)} takes an integer ≥ {min}, got '{v}'");
        return x;
    }
}

namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Globalization;
using TnDsl.BornMachine;
using TnDsl.Native;

/// <summary>
/// <c>tn sample MODEL [-n 64] [-o samples.png]</c>: exact independent samples from a trained Born machine (a
/// checkpoint written by <c>tn train born-machine</c>, or the directory holding it) drawn as a PNG grid, and
/// optionally the run's NLL-per-loop plot against the authors' figure.
/// </summary>
public static class SampleCommand
{
    /// <summary>The <c>sample</c> verb; it reports on the console.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "a checkpoint.bin written by tn train born-machine, or its directory (or its history.csv, to redraw --plot alone)" }.NotAnOption();
        var count = TnOptions.Int("--count", 64, "how many samples to draw", 1, int.MaxValue, "-n");
        var output = new Option<string>("--output", "-o")
        {
            Description = "the PNG grid to write",
            HelpName = "FILE.png",
            DefaultValueFactory = _ => "samples.png",
        };
        var seed = TnOptions.Integer("--seed", 1, "seed of the sampler", min: 0);
        var columns = TnOptions.OptionalInt("--columns", "images per row of the grid [default: √count, rounded up]");
        var scale = TnOptions.Int("--scale", 4, "pixels per image pixel");
        var plot = TnOptions.Text("--plot", "FILE.png", "also write the run's NLL per loop, against the authors' figure");
        var command = new Command("sample", "draw samples from a trained Born machine into a PNG grid")
        {
            model, count, output, seed, columns, scale, plot,
        };
        Cli.SetAction(command, parse =>
        {
            int n = parse.GetValue(count);
            return Run(parse.GetRequiredValue(model), n, parse.GetValue(output)!, (ulong)parse.GetValue(seed),
                parse.GetValue(columns) ?? (int)Math.Ceiling(Math.Sqrt(n)), parse.GetValue(scale), parse.GetValue(plot));
        });
        return command;
    }

    /// <summary>The most pixels a sample grid may have (a PNG of 8192 × 8192): more is refused before sampling.</summary>
    public const long MaxGridPixels = 1L << 26;

    static int Run(string model, int count, string output, ulong seed, int columns, int scale, string? plot)
    {
        if (model.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            OutputPaths.Check(plot, "--plot", model);
            RequirePng(plot, "--plot");
            return Redraw(model, plot);
        }
        var path = Directory.Exists(model) ? Path.Combine(model, "checkpoint.bin") : model;
        // Checked before the checkpoint is read: -o naming it (or its history) would replace the trained model.
        var history = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "history.csv");
        OutputPaths.Check(output, "-o", path, history);
        OutputPaths.Check(plot, "--plot", path, history, output);
        // Both pictures are PNG: another name (samples.svg, nll.jpg) would hold PNG bytes under the wrong type.
        RequirePng(output, "-o");
        RequirePng(plot, "--plot");
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
            // The grid's size is known before any sample is drawn: one too large for a PNG is refused, not attempted.
            var pixels = GridPixels(count, columns, state.SitePixels.Length, state.ImageWidth, state.ImageHeight, scale);
            if (pixels > MaxGridPixels)
                throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                    $"{count} samples at --scale {scale} make a grid of {pixels:N0} pixels, more than the {MaxGridPixels:N0} a PNG here may have; ask for fewer samples (-n) or a smaller --scale"));
            var samples = mps.Sample(count, new SplitMix64(seed));
            SafeFile.ReplaceBytes(output, Grid(samples, count, state.SitePixels, state.ImageWidth, state.ImageHeight, columns, scale));
        }
        Console.WriteLine($"wrote {count} samples to {output} (loop {state.History[^1].Loop}, train NLL {state.History[^1].TrainNll.ToString("F3", CultureInfo.InvariantCulture)})");
        if (plot is not null)
        {
            BornPlot.WriteNll(plot, state.History, state.Options.Dmax, state.SitePixels.Length == 784);
            Console.WriteLine($"wrote the NLL plot to {plot}");
        }
        return 0;
    }

    static void RequirePng(string? path, string option)
    {
        if (path is not null && !path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"{option} {path}: the picture is written as .png");
    }

    /// <summary>
    /// <c>tn sample history.csv --plot nll.png</c>: redraws a run's NLL plot from its <c>history.csv</c> alone. Dmax is
    /// the last loop's largest bond; the authors' MNIST figures are drawn when the initial NLL is MNIST-sized
    /// (over 100 nats: 784 pixels; 16-pixel bars-and-stripes start near 11).
    /// </summary>
    static int Redraw(string csv, string? plot)
    {
        if (plot is null)
            throw new UsageException("a history.csv has no model to sample: give --plot FILE.png to redraw its NLL plot");
        List<LoopRecord> history;
        try
        {
            history = File.ReadLines(csv).Skip(1).Where(l => l.Length > 0).Select(l =>
            {
                var c = l.Split(',');
                double D(int i) => double.Parse(c[i], CultureInfo.InvariantCulture);
                return new LoopRecord(int.Parse(c[0], CultureInfo.InvariantCulture), D(1), D(2), int.Parse(c[3], CultureInfo.InvariantCulture), D(4), D(5));
            }).ToList();
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or OverflowException)
        {
            Console.Error.WriteLine($"tn sample: {csv}: not a history.csv of tn train born-machine (loop,train_nll,test_nll,max_bond,lr,seconds): {e.Message}");
            return 1;
        }
        if (history.Count == 0)
        {
            Console.Error.WriteLine($"tn sample: {csv}: no loops");
            return 1;
        }
        BornPlot.WriteNll(plot, history, history[^1].MaxBond, history[0].TrainNll > 100);
        Console.WriteLine($"wrote the NLL plot to {plot}");
        return 0;
    }

    /// <summary>
    /// The pixels of the grid <see cref="Grid"/> draws for <paramref name="count"/> images of <paramref name="n"/>
    /// pixels (width × height when they match, else one row), as <c>Png.ImageGrid</c> lays them out; exact in 64 bits.
    /// </summary>
    public static long GridPixels(int count, int columns, int n, int width, int height, int scale)
    {
        if ((long)width * height != n)
            (width, height) = (n, 1);
        long cols = Math.Max(1, Math.Min(columns, count));
        long rows = (count + cols - 1) / cols;
        // Each image is a (width·scale + gap) × (height·scale + gap) cell, the gap one block of `scale` pixels.
        double w = cols * ((double)width * scale + scale) + scale, h = rows * ((double)height * scale + scale) + scale;
        return w * h > long.MaxValue / 2 ? long.MaxValue : (long)(w * h);
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
}

namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Globalization;
using TnDsl.BornMachine;

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
        var model = new Argument<string>("MODEL") { Description = "a checkpoint.bin written by tn train born-machine, or its directory" };
        var count = TnOptions.Integer("--count", 64, "how many samples to draw", aliases: "-n");
        var output = new Option<string>("--output", "-o")
        {
            Description = "the PNG grid to write",
            HelpName = "FILE.png",
            DefaultValueFactory = _ => "samples.png",
        };
        var seed = TnOptions.Integer("--seed", 1, "seed of the sampler", min: 0);
        var columns = TnOptions.OptionalInteger("--columns", "images per row of the grid [default: √count, rounded up]");
        var scale = TnOptions.Integer("--scale", 4, "pixels per image pixel");
        var plot = TnOptions.Text("--plot", "FILE.png", "also write the run's NLL per loop, against the authors' figure");
        var command = new Command("sample", "draw samples from a trained Born machine into a PNG grid")
        {
            model, count, output, seed, columns, scale, plot,
        };
        Cli.SetAction(command, parse =>
        {
            int n = Int(parse.GetValue(count));
            return Run(parse.GetRequiredValue(model), n, parse.GetValue(output)!, (ulong)parse.GetValue(seed),
                Int(parse.GetValue(columns) ?? (long)Math.Ceiling(Math.Sqrt(n))), Int(parse.GetValue(scale)), parse.GetValue(plot));
        });
        return command;
    }

    /// <summary>A count that the option parsers have already checked to be positive, as an int.</summary>
    static int Int(long value) => (int)Math.Min(value, int.MaxValue);

    static int Run(string model, int count, string output, ulong seed, int columns, int scale, string? plot)
    {
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
        if (plot is not null)
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
}

using System.CommandLine;
using TnDsl;
using TnDsl.Api;
using TnDsl.Cli.Drawing;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn draw FILE.tn [--set k=v] [--network NAME] [--cut NAME] [--plan [--optimizer NAME]] -o OUT.svg|OUT.png</c>:
/// draws the network laid out by its structure (a chain as a line, a grid as a grid, a tree as a tree, anything else
/// by force), or with <c>--plan</c> its contraction tree with each step's flops.
/// Exit codes: 0 written, 1 the file has errors or cannot be written, 2 a usage error.
/// </summary>
public static class DrawCommand
{
    /// <summary>The most tensors <c>tn draw</c> lays out; a larger network is refused (exit 1).</summary>
    public const int MaxTensors = 10_000;

    /// <summary>The <c>draw</c> verb: the picture to <c>-o</c>, a line saying so to the output, diagnostics to errors.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var cut = TnOptions.Text("--cut", "NAME", "show this declared cut: its severed bonds in red, its two sides ringed");
        var plan = TnOptions.Flag("--plan", "draw the contraction tree (each step's flops) instead of the network");
        var optimizer = TnOptions.Optimizer();
        var outputPath = TnOptions.Text("--output", "OUT.svg", "the picture's file: .svg or .png (required)", "-o");
        var command = new Command("draw", "draw the network (-o net.svg|png) or its contraction tree (--plan)")
        {
            file, set, network, cut, plan, optimizer, outputPath,
        };
        Cli.SetAction(command, parse => Run(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network),
            parse.GetValue(cut), parse.GetValue(plan), parse.GetResult(optimizer) is { Implicit: false } ? parse.GetValue(optimizer) : null,
            parse.GetValue(outputPath), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Run(string file, IReadOnlyList<KeyValuePair<string, string>> sets, string? networkName, string? cutName,
        bool plan, string? optimizerName, string? outPath, TextWriter output, TextWriter err)
    {
        if (outPath is null) throw new UsageException("give the picture's file with -o OUT.svg or -o OUT.png");
        if (!outPath.EndsWith(".svg", StringComparison.OrdinalIgnoreCase) && !outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"-o {outPath}: the picture is written as .svg or .png");
        OutputPaths.Check(outPath, "-o", file);
        if (plan && cutName is not null) throw new UsageException("--cut draws the network, --plan its contraction tree: give one");
        if (!plan && optimizerName is not null) throw new UsageException("--optimizer goes with --plan");
        PlanCommand.RequireTnFile("draw", file);
        var check = Shipped.Check(file, sets, networkName);
        if (check.HasErrors)
        {
            DiagnosticOutput.WriteFailure(false, output, err, check);
            return 1;
        }
        DiagnosticOutput.Write(err, check.Diagnostics);
        var net = check.Network!;
        // Past this a picture of 4000 x 3600 pixels is a grey block, and laying it out and drawing it take minutes.
        if (net.Tensors.Length > MaxTensors)
        {
            err.WriteLine($"tn draw: {net.Name} has {net.Tensors.Length:N0} tensors, more than the {MaxTensors:N0} a picture can show; " +
                          "draw a smaller instance (--set)");
            return 1;
        }

        ScottPlot.Plot picture;
        int width, height;
        if (plan)
        {
            var optimizer = optimizerName ?? "auto";
            if (!Planner.OptimizerNames.Contains(optimizer))
                throw new UsageException($"unknown optimizer '{optimizer}'; valid optimizers: {string.Join(", ", Planner.OptimizerNames)}");
            var planned = Planner.Plan(net, optimizer, null, 0);
            var chosen = planned.Chosen == optimizer ? optimizer : $"{optimizer}: {planned.Chosen}";
            var (tree, geometry) = NetworkPicture.DrawnTree(planned, net.Name, chosen);
            (picture, width, height) = (tree, geometry.Width, geometry.Height);
        }
        else
        {
            NetworkPicture.CutShown? cut = null;
            if (cutName is not null)
            {
                var view = MinCutApi.Analyse(net, cutName, false);
                if (view.Cuts.Count == 0)
                {
                    var names = MinCutApi.CutNames(net);
                    err.WriteLine($"tn draw: no cut named `{cutName}` in `{net.Name}`; " +
                                  (names.Length == 0 ? "the network declares no cuts" : "declared cuts: " + string.Join(", ", names)));
                    return 2; // an argument mistake, as in tn cuts
                }
                var c = view.Cuts[0];
                cut = new(c.Name, c.Bonds.Select(b => b.Name).ToHashSet(), c.LeftTensors.ToHashSet(), c.Bits);
            }
            var layout = NetworkLayout.Of(net);
            picture = NetworkPicture.Network(net, layout, cut);
            (width, height) = NetworkPicture.SizeFor(layout);
        }
        NetworkPicture.Save(picture, outPath, width, height);
        output.WriteLine($"wrote {outPath} ({width}x{height})");
        return 0;
    }
}

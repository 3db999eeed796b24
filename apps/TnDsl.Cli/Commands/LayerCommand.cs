using System.Globalization;
using TnDsl.Api;
using TnDsl.Torch;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn layer FILE [--set k=v]… [--network NAME] [--optimizer NAME] [--batch N]</c>: builds the layer a spec
/// describes and prints its shape and parameter count next to the dense layer it replaces (in × out weights), the
/// planner's cost report of the plan the layer executes (at the nominal batch, or at --batch N), and the min-cut profile of its weight network (features | outputs).
/// </summary>
public static class LayerCommand
{
    private static readonly CommandSyntax Syntax = new("layer",
        "usage: tn layer FILE [--set k=v]... [--network NAME] [--optimizer NAME] [--batch N]",
        ["--set", "--network", "--optimizer", "--batch"], []);

    /// <summary>Parses the arguments and prints the report. Returns the exit code.</summary>
    public static int Run(string[] args) => Syntax.Run(args, Console.Out, Console.Error, a =>
    {
        var file = a.Single("FILE");
        var network = a.Value("--network");
        var optimizer = a.Value("--optimizer") ?? "auto";
        var batch = a.Positive("--batch");
        var overrides = a.Pairs("--set");
        if (!Planner.OptimizerNames.Contains(optimizer))
            throw new UsageException($"unknown optimizer `{optimizer}`; valid: {string.Join(", ", Planner.OptimizerNames)}");
        SpecLayer layer;
        NetworkView net;
        try
        {
            net = Layers.Check(file, overrides, network);
            layer = Layers.FromNetwork(net, new LayerOptions { Optimizer = optimizer, Batch = batch });
        }
        catch (TnException e)
        {
            foreach (var d in e.Rendered)
                Console.Error.WriteLine(d);
            Console.Error.WriteLine($"tn layer: {e.Summary}");
            return 1;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            Console.Error.WriteLine($"tn layer: {e.Message}");
            return 1;
        }
        using (layer)
            return Report(net, layer);
    });

    static int Report(NetworkView net, SpecLayer layer)
    {
        var inv = CultureInfo.InvariantCulture;
        long dense = layer.InputFeatures * layer.OutputFeatures;
        long pars = layer.ParameterCount;
        Console.WriteLine($"layer {net.Name}: (batch, {layer.InputFeatures}) -> (batch, {layer.OutputFeatures})");
        foreach (var input in layer.Inputs)
            Console.WriteLine($"  input {input.Name}: {input.Features} features as [{string.Join(" x ", input.Shape)}]{(input.Embedded ? " (embedded raw values)" : "")}");
        Console.WriteLine($"  output legs: {string.Join(", ", layer.OutputLegs)}");
        Console.WriteLine();
        Console.WriteLine($"{"",-22}{"parameters",14}{"compression",14}");
        Console.WriteLine($"{"tensor network",-22}{pars,14:N0}{((double)dense / pars).ToString("0.0", inv) + "x",14}");
        Console.WriteLine($"{$"dense {layer.InputFeatures} x {layer.OutputFeatures}",-22}{dense,14:N0}{"1.0x",14}");
        Console.WriteLine();
        // The plan the layer executes, as `tn plan` prints it for the same file and options.
        var plan = layer.Network.ExecutionPlan;
        var batchText = plan.Batch is { } b ? $"batch {b}" : "nominal batch";
        Console.WriteLine($"planner's cost report ({batchText}, optimizer {plan.Optimizer}, chose {plan.Chosen}; the layer executes this plan):");
        foreach (var d in plan.Diagnostics.Where(d => !d.IsInfo))
            Console.Error.WriteLine(d.Rendered);
        Console.WriteLine(plan.Report().TrimEnd());
        Console.WriteLine();
        Console.WriteLine("min-cut profile of the weight network (open legs: features, then outputs):");
        var weights = WeightNetwork.Of(net);
        return CutsCommand.Render(weights, null, true, false, Console.Out, Console.Error);
    }
}

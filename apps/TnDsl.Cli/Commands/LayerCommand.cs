using System.Globalization;
using TnDsl.Torch;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn layer FILE [--set k=v]… [--network NAME] [--optimizer NAME] [--batch N]</c>: builds the layer a spec
/// describes and prints its shape and parameter count next to the dense layer it replaces (in × out weights), the
/// planner's cost report for one batch, and the min-cut profile of its weight network (features | outputs).
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
        var batch = a.Positive("--batch") ?? 100;
        var overrides = a.Pairs("--set");
        if (!PlanApi.optimizerNames().Contains(optimizer))
            throw new UsageException($"unknown optimizer `{optimizer}`; valid: {string.Join(", ", PlanApi.optimizerNames())}");
        SpecLayer layer;
        FlatNetwork net;
        try
        {
            net = Layers.Check(file, overrides, network);
            layer = Layers.FromNetwork(net, new LayerOptions { Optimizer = optimizer });
        }
        catch (Exception e) when (e is LayerException or ArgumentException or NotSupportedException or InvalidOperationException)
        {
            Console.Error.WriteLine($"tn layer: {e.Message}");
            return 1;
        }
        using (layer)
            return Report(net, layer, optimizer, batch);
    });

    static int Report(FlatNetwork net, SpecLayer layer, string optimizer, long batch)
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
        var planned = LayerPath.Plan(net, optimizer, batch);
        var bonded = LayerPath.BondGreedy(net, batch);
        double plannedFlops = LayerPath.Flops(net, planned, batch), bondedFlops = LayerPath.Flops(net, bonded, batch);
        Console.WriteLine($"the layer contracts along the {(bondedFlops < plannedFlops ? "bond-greedy path" : "planner's path")} " +
            $"(planner {plannedFlops.ToString("0.###e+0", inv)} flops, bond-greedy {bondedFlops.ToString("0.###e+0", inv)} flops, batch {batch})");
        Console.WriteLine();
        Console.WriteLine($"planner's cost report (batch {batch}, optimizer {optimizer}):");
        var dynamicFamilies = net.Indices.Where(i => DimModule.isDynamic(i.Dim)).Select(i => i.Family).Distinct();
        var plan = PlanApi.planNetwork(net, optimizer, dynamicFamilies.Select(f => new KeyValuePair<string, long>(f, batch)).ToArray(), 0, false);
        foreach (var m in plan.Messages)
            Console.Error.WriteLine(m);
        Console.WriteLine(plan.Output.TrimEnd());
        Console.WriteLine();
        Console.WriteLine("min-cut profile of the weight network (open legs: features, then outputs):");
        var weights = WeightNetwork.Of(net);
        int cuts = CutsCommand.Render(weights, null, true, false, Console.Out, Console.Error);
        return plan.ExitCode != 0 ? plan.ExitCode : cuts;
    }
}

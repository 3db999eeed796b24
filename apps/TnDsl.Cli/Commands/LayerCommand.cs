using System.CommandLine;
using System.Globalization;
using TnDsl.Api;
using TnDsl.Torch;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn layer FILE [--set k=v]… [--network NAME] [--optimizer NAME] [--batch N|name=N,…] [--threads N]</c>: builds the layer a spec
/// describes and prints its shape and parameter count next to the dense layer it replaces (in × out weights), the
/// planner's cost report for one batch, and the min-cut profile of its weight network (features | outputs).
/// </summary>
public static class LayerCommand
{
    /// <summary>The <c>layer</c> verb; it reports on the console.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile("the .tn layer spec (inputs carry the features, open legs the outputs)");
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var optimizer = TnOptions.Optimizer();
        var batch = TnOptions.Batch("the batch size the cost report is for (N, or name=N for the dynamic index) " +
                                    "[default: the size the file gives its dynamic index]");
        var threads = TnOptions.ThreadCount("TorchSharp CPU threads of the calibration pass [default: libtorch's]");
        var command = new Command("layer", "a .tn spec as a layer: parameters, cost, min-cuts vs the dense layer")
        {
            file, set, network, optimizer, batch, threads,
        };
        Cli.SetAction(command, parse => Run(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network),
            parse.GetValue(optimizer)!, parse.GetValue(batch), parse.GetValue(threads)));
        return command;
    }

    private static int Run(string file, IReadOnlyList<KeyValuePair<string, string>> overrides, string? network, string optimizer, BatchSizes? batch,
        int? threads)
    {
        PlanCommand.RequireTnFile("layer", file);
        if (threads is { } nt)
        {
            NativeLoader.EnsureLoaded();
            TorchSharp.torch.set_num_threads(nt);
        }
        // A refusal by the memory guard names this verb's options.
        using var advice = MemoryGuard.Advise(DynamicOptions.BatchRemedies);
        PlanCommand.RequireOptimizer(optimizer);
        SpecLayer layer;
        NetworkView net;
        try
        {
            net = Shipped.Load(file, overrides, network);
            // A batch given for a spec with nothing to batch, or one whose output and raw inputs alone are over the
            // memory limit, is refused before the planner runs (it would plan for a minute to say the same).
            DynamicOptions.CheckBatch(net, batch);
            var options = new LayerOptions { Optimizer = optimizer, Batch = batch };
            // Without --batch the layer is planned at the spec's nominal batch (the size of its dynamic index).
            batch ??= new BatchSizes();
            DynamicOptions.CheckBatchBytes(net, batch, options.DType);
            layer = Layers.FromNetwork(net, options);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            Console.Error.WriteLine($"tn layer: {e.Message}");
            return 1;
        }
        using (layer)
            return Report(net, layer, batch);
    }

    static int Report(NetworkView net, SpecLayer layer, BatchSizes batch)
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
        // A spec without weights (inputs and consts alone) has nothing to compress: no ratio, not "Infinityx". A
        // network larger than the dense layer keeps two significant digits (q-CNN's 0.032x was printed 0.0x).
        double ratio = (double)dense / pars;
        var compression = pars == 0 ? "-" : (ratio >= 1 ? ratio.ToString("0.0", inv) : ratio.ToString("G2", inv)) + "x";
        Console.WriteLine($"{"tensor network",-22}{pars,14:N0}{compression,14}");
        Console.WriteLine($"{$"dense {layer.InputFeatures} x {layer.OutputFeatures}",-22}{dense,14:N0}{"1.0x",14}");
        Console.WriteLine();
        // The plan the layer executes, as `tn plan --size batch=N` prints it for the same file and options.
        var plan = layer.Network.ExecutionPlan;
        Console.WriteLine($"planner's cost report ({(DynamicOptions.Families(net).Length > 0 ? $"batch {batch.Describe(net)}, " : "")}optimizer {plan.Optimizer}, chose {plan.Chosen}; the layer executes this plan):");
        foreach (var d in plan.Diagnostics.Where(d => !d.IsInfo))
            Console.Error.WriteLine(d.Rendered);
        Console.WriteLine(plan.Report().TrimEnd());
        Console.WriteLine();
        Console.WriteLine("min-cut profile of the weight network (open legs: features, then outputs):");
        var weights = WeightNetwork.Of(net);
        return CutsCommand.Render(weights, null, true, false, Console.Out, Console.Error);
    }
}

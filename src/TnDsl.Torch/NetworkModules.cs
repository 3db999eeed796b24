using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>How <see cref="NetworkModules"/> turns a network into a module.</summary>
public sealed record NetworkBuildOptions
{
    /// <summary>Device, dtype, seed, kernel choice and log-scale execution of the module.</summary>
    public NetworkModuleOptions Module { get; init; } = new();
    /// <summary>The planner's optimizer (<c>auto</c> by default; see <c>tn plan --help</c> for the others).</summary>
    public string Optimizer { get; init; } = "auto";
    /// <summary>The sizes of the dynamic (batch) indices while planning: one for all (<c>Batch = 100</c>) or per index
    /// (<see cref="BatchSizes"/>); null plans with the nominal sizes declared in the file. The module accepts any batch
    /// size at run time whatever the plan was made for.</summary>
    public BatchSizes? Batch { get; init; }
    /// <summary>The network of the file to build (null: the last one declared).</summary>
    public string? NetworkName { get; init; }
    /// <summary>Seed of the planner's random choices.</summary>
    public int PlanSeed { get; init; }
    /// <summary>When set, no intermediate (of one slice) may have more elements: the planner slices to meet it, and a
    /// limit it cannot meet is refused before anything is allocated. At least 1 (an <see cref="ArgumentOutOfRangeException"/>
    /// otherwise).</summary>
    public long? MaxIntermediateElements { get; init; }
    /// <summary>Whether the module will be trained: the memory guard then counts the activations autograd keeps and
    /// the gradients (see <see cref="MemoryGuard.Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>), not only the forward pass.
    /// When false, a batch whose forward pass fits only in chunks of rows is built (see <see cref="MemoryGuard.FitPlan"/>),
    /// not refused, and the module checks its first call with autograd (a training step) before it computes, at the
    /// planned batch too.</summary>
    public bool Training { get; init; }
}

/// <summary>
/// One-call builders: a <c>.tn</c> file or a checked network, planned by the core's planner (the <c>auto</c>
/// optimizer unless told otherwise, at the nominal or given batch size), and built into a
/// <see cref="NetworkModule"/> that executes that plan. Bad files throw <see cref="TnException"/> carrying every
/// diagnostic in the compiler's usual form.
/// </summary>
public static class NetworkModules
{
    /// <summary>Builds the module of a <c>.tn</c> file with parameter overrides (name → value text).</summary>
    public static NetworkModule FromFile(string path, IReadOnlyList<KeyValuePair<string, string>>? overrides = null, NetworkBuildOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new NetworkBuildOptions();
        return FromNetwork(Frontend.Load(path, overrides, options.NetworkName), options);
    }

    /// <summary>Builds the module of <c>.tn</c> source text held in memory (<paramref name="file"/> names it in diagnostics).</summary>
    public static NetworkModule FromText(string file, string text, IReadOnlyList<KeyValuePair<string, string>>? overrides = null, NetworkBuildOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        options ??= new NetworkBuildOptions();
        return FromNetwork(Frontend.LoadText(file, text, overrides, options.NetworkName), options);
    }

    /// <summary>Plans a checked network and builds its module.</summary>
    public static NetworkModule FromNetwork(NetworkView network, NetworkBuildOptions? options = null)
    {
        options ??= new NetworkBuildOptions();
        // The caller's mistakes, named as the caller wrote them: the planner would report them as the network's
        // ("the result alone has 65536 elements, over the memory limit of -1"; "index 'batch' has size 0" in the file).
        if (options.MaxIntermediateElements is < 1)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"NetworkBuildOptions.MaxIntermediateElements is {options.MaxIntermediateElements}: the most elements of one intermediate is at least 1; leave it null for no limit");
        BatchSizes.Validate(options.Batch, "NetworkBuildOptions.Batch");
        NetworkSpec spec;
        try
        {
            spec = NetworkAdapter.FromFlat(network);
        }
        catch (NotSupportedException e)
        {
            throw new TnException($"{network.Name}: {e.Message} is not supported by the TorchSharp backend");
        }
        // The byte estimate of the program the module will run against the memory limit, before anything is
        // allocated; sliced to fit where it is over, and not built for training, run in chunks of rows where only
        // that fits (see MemoryGuard.FitPlan).
        var dtype = options.Module.DType;
        // On a GPU, a share of its memory (MemoryGuard.Device).
        using var on = MemoryGuard.OnDevice(options.Module.Device);
        var fitted = MemoryGuard.FitPlan(limit => NetworkAdapter.Plan(network, options.Optimizer, options.Batch, options.PlanSeed, limit),
            options.MaxIntermediateElements, dtype, options.Training,
            $"{network.Name} ({dtype.ToString().ToLowerInvariant()}{(options.Batch is not null && spec.Indices.Any(i => i.IsDynamic) ? $", batch {BatchSizes.Describe(spec, BatchSizes.Extents(spec, options.Batch))}" : "")})",
            spec, options.Batch);
        try
        {
            var module = new NetworkModule(spec, fitted.Plan, options.Module);
            // The plan's own batch does not fit at once: every call's batch is checked, and runs in chunks where it must.
            if (fitted.Chunks.Count > 0)
                module.GuardEveryBatch();
            else if (options.Training)
                module.FittedForTraining();
            return module;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new TnException($"{network.Name}: {e.Message}");
        }
    }
}

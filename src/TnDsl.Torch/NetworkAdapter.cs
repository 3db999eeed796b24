using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>What a tensor is for at run time (mirrors the F# <c>Role</c>).</summary>
public enum TensorRole
{
    /// <summary>Trainable: a parameter.</summary>
    Weight,
    /// <summary>Fed at run time.</summary>
    Input,
    /// <summary>Fixed values: a buffer.</summary>
    Const,
}

/// <summary>One index of the network: its id, written name, extent (nominal where dynamic), whether it is the batch, and
/// its family (<c>b</c> of <c>b[3]</c>; its name where not given), which <see cref="BatchSizes"/> sizes it by.</summary>
public sealed record IndexSpec(int Id, string Name, long Size, bool IsDynamic, string? FamilyName = null)
{
    /// <summary>The family of the index (its name where none was given).</summary>
    public string Family => FamilyName ?? Name;
}

/// <summary>How a tensor's initial or fixed values are made (mirrors the F# <c>Init</c>).</summary>
public abstract record InitSpec
{
    /// <summary>Independent normal entries.</summary>
    public sealed record Normal(double Mean, double Std) : InitSpec;
    /// <summary>Independent uniform entries in [Lo, Hi).</summary>
    public sealed record Uniform(double Lo, double Hi) : InitSpec;
    /// <summary>Identity between paired legs (first with last, second with second-to-last, …).</summary>
    public sealed record Identity : InitSpec;
    /// <summary>The copy (δ) tensor.</summary>
    public sealed record Copy : InitSpec;
    /// <summary>An isometry from all legs but the last onto the last (or the reverse).</summary>
    public sealed record Orthogonal : InitSpec;
    /// <summary>Scale chosen from the network so that the output has unit variance (see <see cref="AutoInit"/>).</summary>
    public sealed record Auto : InitSpec;
    /// <summary>Constant entries.</summary>
    public sealed record Constant(double Value) : InitSpec;
    /// <summary>The element-wise sum of two initialisers.</summary>
    public sealed record Sum(InitSpec A, InitSpec B) : InitSpec;
}

/// <summary>A built-in embedding of raw input values (mirrors the F# <c>Embedding</c>).</summary>
public abstract record EmbeddingSpec
{
    /// <summary>The number of features produced.</summary>
    public abstract int Width { get; }
    /// <summary>e_k for integer value k in 0..D-1.</summary>
    public sealed record OneHot(int D) : EmbeddingSpec
    {
        /// <inheritdoc/>
        public override int Width => D;
    }
    /// <summary>(cos(πx/2), sin(πx/2)).</summary>
    public sealed record Trig : EmbeddingSpec
    {
        /// <inheritdoc/>
        public override int Width => 2;
    }
    /// <summary>1, cos(πx), sin(πx), cos(2πx), sin(2πx), … (first K).</summary>
    public sealed record Fourier(int K) : EmbeddingSpec
    {
        /// <inheritdoc/>
        public override int Width => K;
    }
    /// <summary>Legendre polynomials P_0..P_{K-1} of 2x-1.</summary>
    public sealed record Legendre(int K) : EmbeddingSpec
    {
        /// <inheritdoc/>
        public override int Width => K;
    }
}

/// <summary>One tensor of the network, in C# shape.</summary>
public sealed record TensorSpec(
    int Id,
    string Name,
    string Family,
    int[] Subscripts,
    TensorRole Role,
    string Param,
    int[] Legs,
    InitSpec? Init,
    EmbeddingSpec? Embedding)
{
    /// <summary>Where the tensor was declared in its <c>.tn</c> file, if known.</summary>
    public SourceLine? Source { get; init; }
}

/// <summary>A place in a <c>.tn</c> file: its path, a 1-based line and the text of that line (null if unread).</summary>
public sealed record SourceLine(string File, int Line, string? Text);

/// <summary>A flat network in C# shape: what <see cref="NetworkModule"/> is built from.</summary>
public sealed record NetworkSpec(string Name, TensorSpec[] Tensors, IndexSpec[] Indices, int[] Output);

/// <summary>
/// The one place where the checked network (the core's C#-shaped <see cref="NetworkView"/>) is turned into the
/// <see cref="NetworkSpec"/> the TorchSharp backend works on, and where plans are asked of the core's planner.
/// </summary>
public static class NetworkAdapter
{
    /// <summary>Converts a checked network; source lines come from the texts the compiler kept.</summary>
    public static NetworkSpec FromFlat(NetworkView net)
    {
        var indices = net.Indices
            .Select(i => new IndexSpec(i.Id, i.Name, i.Size, i.IsDynamic, i.Family))
            .ToArray();
        var tensors = net.Tensors
            .Select(t => new TensorSpec(
                t.Id,
                t.Name,
                t.Family,
                t.Subscripts,
                t.IsWeight ? TensorRole.Weight : t.IsInput ? TensorRole.Input : TensorRole.Const,
                t.Param,
                t.Legs,
                t.Init is { } init ? FromInit(init) : null,
                t.Embedding is { } embedding ? FromEmbedding(embedding) : null)
            {
                Source = t.HasSource ? new SourceLine(t.Range.File, t.Range.Line, t.SourceLine) : null,
            })
            .ToArray();
        return new NetworkSpec(net.Name, tensors, indices, net.Output);
    }

    /// <summary>Converts an initialiser.</summary>
    public static InitSpec FromInit(InitView init) =>
        init.Form switch
        {
            InitForm.Normal => new InitSpec.Normal(init.Numbers[0], init.Numbers[1]),
            InitForm.Uniform => new InitSpec.Uniform(init.Numbers[0], init.Numbers[1]),
            InitForm.Constant => new InitSpec.Constant(init.Numbers[0]),
            InitForm.Sum => new InitSpec.Sum(FromInit(init.Parts[0]), FromInit(init.Parts[1])),
            InitForm.Identity => new InitSpec.Identity(),
            InitForm.Copy => new InitSpec.Copy(),
            InitForm.Orthogonal => new InitSpec.Orthogonal(),
            InitForm.Auto => new InitSpec.Auto(),
            _ => throw new NotSupportedException($"initialiser {init}"),
        };

    /// <summary>Converts an embedding.</summary>
    public static EmbeddingSpec FromEmbedding(EmbeddingView e) =>
        e.Name switch
        {
            "onehot" => new EmbeddingSpec.OneHot(e.Size),
            "fourier" => new EmbeddingSpec.Fourier(e.Size),
            "legendre" => new EmbeddingSpec.Legendre(e.Size),
            "trig" => new EmbeddingSpec.Trig(),
            _ => throw new NotSupportedException($"embedding {e}"),
        };

    /// <summary>
    /// Plans a checked network with a registered optimizer (see <see cref="Planner.OptimizerNames"/>): the plan
    /// <c>tn plan</c> prints for the same file and options. <paramref name="batch"/>, when given, sizes the dynamic
    /// indices while planning (<see cref="BatchSizes"/>; else the nominal sizes). Throws <see cref="TnException"/> when
    /// planning fails.
    /// </summary>
    public static PlanView Plan(NetworkView net, string optimizer, BatchSizes? batch, int seed = 0) =>
        Plan(net, optimizer, batch, seed, null);

    /// <summary><see cref="Plan(NetworkView, string, BatchSizes?, int)"/> with a limit on intermediates in elements (null:
    /// none), which the planner meets by slicing where it has to; throws <see cref="TnException"/> when it cannot, or
    /// when <paramref name="batch"/> sizes an index family that is no dynamic index of the network (it would size nothing).</summary>
    public static PlanView Plan(NetworkView net, string optimizer, BatchSizes? batch, int seed, long? memoryLimit)
    {
        var families = net.Indices.Where(i => i.IsDynamic).Select(i => i.Family).Distinct().ToArray();
        var unknown = (batch?.ByIndex.Keys ?? []).Where(name => !families.Contains(name)).ToArray();
        if (unknown.Length > 0)
            throw new TnException($"{net.Name}: the batch sizes name {string.Join(", ", unknown)}, no dynamic index of the network " +
                                  $"({(families.Length == 0 ? "it has none" : "its dynamic indices: " + string.Join(", ", families))})");
        return Planner.PlanSized(net, optimizer, (batch ?? new BatchSizes()).Families(net), seed, memoryLimit is { } m ? m : null);
    }

    /// <summary>The plan that follows a user-given path (opt_einsum's linear convention, completed left to right).</summary>
    public static PlanView FollowPath(NetworkView net, IReadOnlyList<(int, int)> path) =>
        Planner.FollowPath(net, path.Select(p => (p.Item1, p.Item2)).ToArray());

    /// <summary>The plan that follows a user-given path on a network built in C# (see <see cref="FollowPath(NetworkView, IReadOnlyList{ValueTuple{int, int}})"/>).</summary>
    public static PlanView FollowPath(NetworkSpec spec, IReadOnlyList<(int, int)> path) =>
        Planner.FollowPathLabels(spec.Tensors.Select(t => t.Legs).ToArray(), spec.Indices.Select(i => i.Size).ToArray(), spec.Output, path.ToArray());

    /// <summary>Plans a network built in C# with a registered optimizer, at its indices' sizes.</summary>
    public static PlanView Plan(NetworkSpec spec, string optimizer) =>
        Planner.PlanLabels(spec.Tensors.Select(t => t.Legs).ToArray(), spec.Indices.Select(i => i.Size).ToArray(), spec.Output, optimizer);

    /// <summary>Builds the module for a checked network and a contraction path (opt_einsum's linear convention).</summary>
    public static NetworkModule ToModule(NetworkView net, IReadOnlyList<(int, int)> path, NetworkModuleOptions? options = null) =>
        new(FromFlat(net), FollowPath(net, path), options);
}

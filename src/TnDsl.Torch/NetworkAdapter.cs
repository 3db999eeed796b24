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

/// <summary>One index of the network: its id, written name, extent (nominal where dynamic) and whether it is the batch.</summary>
public sealed record IndexSpec(int Id, string Name, long Size, bool IsDynamic);

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
/// The one place where the F# network model (<c>TnDsl.FlatNetwork</c>) is turned into the C#-shaped
/// <see cref="NetworkSpec"/> the TorchSharp backend works on; nothing else in this assembly reads F# types.
/// </summary>
public static partial class NetworkAdapter
{
    /// <summary>Converts a checked flat network.</summary>
    public static NetworkSpec FromFlat(FlatNetwork net)
    {
        var indices = net.Indices
            .Select(i => new IndexSpec(i.Id, i.Name, DimModule.size(i.Dim), DimModule.isDynamic(i.Dim)))
            .ToArray();
        var files = new Dictionary<string, string[]?>();
        var tensors = net.Tensors
            .Select(t => new TensorSpec(
                t.Id,
                t.Name,
                t.Family,
                t.Subscripts.ToArray(),
                t.Role.IsWeight ? TensorRole.Weight : t.Role.IsInput ? TensorRole.Input : TensorRole.Const,
                t.Param,
                t.Legs.ToArray(),
                t.Init is { } init ? FromInit(init.Value) : null,
                t.Embedding is { } embedding ? FromEmbedding(embedding.Value) : null)
            {
                Source = t.Range.Equals(TnDsl.Range.none) ? null : new SourceLine(t.Range.File, t.Range.Start.Line, LineOf(files, t.Range.File, t.Range.Start.Line)),
            })
            .ToArray();
        return new NetworkSpec(net.Name, tensors, indices, net.Output.ToArray());
    }

    /// The text of a line of a file, or null when the file cannot be read (in-memory sources, say).
    static string? LineOf(Dictionary<string, string[]?> files, string file, int line)
    {
        if (!files.TryGetValue(file, out var lines))
        {
            try
            {
                lines = File.Exists(file) ? File.ReadAllLines(file) : null;
            }
            catch (IOException)
            {
                lines = null;
            }
            files[file] = lines;
        }
        return lines is not null && line >= 1 && line <= lines.Length ? lines[line - 1].Trim() : null;
    }

    /// <summary>Converts an initialiser.</summary>
    public static InitSpec FromInit(Init init) =>
        init switch
        {
            Init.Normal n => new InitSpec.Normal(n.mean, n.std),
            Init.Uniform u => new InitSpec.Uniform(u.lo, u.hi),
            Init.Constant c => new InitSpec.Constant(c.Item),
            Init.Sum s => new InitSpec.Sum(FromInit(s.Item1), FromInit(s.Item2)),
            _ when init.IsIdentity => new InitSpec.Identity(),
            _ when init.IsCopy => new InitSpec.Copy(),
            _ when init.IsOrthogonal => new InitSpec.Orthogonal(),
            _ when init.IsAuto => new InitSpec.Auto(),
            _ => throw new NotSupportedException($"initialiser {InitModule.show(init)}"),
        };

    /// <summary>Converts an embedding.</summary>
    public static EmbeddingSpec FromEmbedding(Embedding e) =>
        e switch
        {
            Embedding.OneHot o => new EmbeddingSpec.OneHot(o.d),
            Embedding.Fourier f => new EmbeddingSpec.Fourier(f.k),
            Embedding.Legendre l => new EmbeddingSpec.Legendre(l.k),
            _ when e.IsTrig => new EmbeddingSpec.Trig(),
            _ => throw new NotSupportedException($"embedding {EmbeddingModule.show(e)}"),
        };

    /// <summary>Builds the module for a flat network and a contraction path (opt_einsum's linear convention).</summary>
    public static NetworkModule ToModule(FlatNetwork net, IReadOnlyList<(int, int)> path, NetworkModuleOptions? options = null) =>
        new(FromFlat(net), path, options);
}

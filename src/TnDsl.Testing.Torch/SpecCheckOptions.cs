using TnDsl.Testing;
using static TorchSharp.torch;

namespace TnDsl.Testing.Torch;

/// <summary>
/// Settings of <see cref="SpecCheck"/>. Defaults: 30 cases in float64; each integer parameter drawn from 1 to
/// min(default, 5); batch families up to 3; a fresh run seed; the default tolerance (see <see cref="RelativeTolerance"/>);
/// rank bounds and gradients checked.
/// </summary>
public sealed record SpecCheckOptions
{
    /// <summary>Cases that must pass (at least 1: a check of no case is refused).</summary>
    public int MaxTest { get; init; } = 30;

    /// <summary>The dtype the tensors are given in: Float64 or Float32.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float64;

    /// <summary>(Min, Max) per integer parameter of the spec; unlisted ones are drawn from 1 to min(default, 5).</summary>
    public IReadOnlyDictionary<string, (long Min, long Max)> Ranges { get; init; } = new Dictionary<string, (long, long)>();

    /// <summary>The largest size of a dynamic (batch) index family.</summary>
    public long MaxBatch { get; init; } = 3;

    /// <summary>The network to check in a file that declares several (null: the last).</summary>
    public string? Network { get; init; }

    /// <summary>The run seed a failure reported; set it to rerun that exact run (null: a fresh seed).</summary>
    public int? Replay { get; init; }

    /// <summary>
    /// Overrides the relative tolerance. By default an entry may deviate from the float64 reference by
    /// 16·eps(dtype)·(tensors + √terms) times its magnitude (the same contraction over absolute values), where
    /// terms is the number of products summed into one entry: about 1e-14 in float64 and 1e-5 in float32 at the
    /// sizes drawn.
    /// </summary>
    public double? RelativeTolerance { get; init; }

    /// <summary>An absolute allowance added to every entry's tolerance (default 0).</summary>
    public double? AbsoluteTolerance { get; init; }

    /// <summary>Cases whose naive reference needs more multiply-adds than this are redrawn.</summary>
    public double WorkLimit { get; init; } = 2e6;

    /// <summary>The most shrinking steps taken.</summary>
    public int MaxShrinks { get; init; } = 200;

    /// <summary>Check the min-cut rank bound of each cut the spec declares on the result.</summary>
    public bool CheckRanks { get; init; } = true;

    /// <summary>Check autograd gradients against finite differences of the forward.</summary>
    public bool CheckGradients { get; init; } = true;

    /// <summary>Entries per tensor probed by finite differences.</summary>
    public int GradientEntries { get; init; } = 3;

    /// <summary>The kit's dtype for a TorchSharp one.</summary>
    internal static TnDsl.Testing.DType ToDType(ScalarType t) =>
        t switch
        {
            ScalarType.Float64 => TnDsl.Testing.DType.Float64,
            ScalarType.Float32 => TnDsl.Testing.DType.Float32,
            _ => throw new ArgumentException($"SpecCheck draws float64 or float32 values, not {t}"),
        };

    /// <summary>The engine's options.</summary>
    internal SpecOptions ToCore()
    {
        return SpecInterop.Options(MaxTest, ToDType(DType), Ranges.ToDictionary(kv => kv.Key, kv => (kv.Value.Min, kv.Value.Max)), MaxBatch,
            Network, Replay, RelativeTolerance, AbsoluteTolerance, WorkLimit, MaxShrinks, CheckRanks, CheckGradients, GradientEntries);
    }
}

using System.Runtime.CompilerServices;
using TnDsl.Testing;
using TorchSharp;
using static TorchSharp.torch;

[assembly: InternalsVisibleTo("TnDsl.Testing.Torch.Tests")]

namespace TnDsl.Testing.Torch;

/// <summary>Thrown by <see cref="SpecCheck.Contraction"/> when the forward does not match the spec; the message is
/// the report (shrunk parameters, dims, largest deviation, Replay seed).</summary>
public sealed class SpecCheckFailedException(SpecFailure failure) : Exception(failure.Message)
{
    /// <summary>The structured failure: shrunk case, network, violation, replay seed.</summary>
    public SpecFailure Failure { get; } = failure;
}

/// <summary>The outcome of <see cref="SpecCheck.Run"/>.</summary>
public sealed record SpecCheckResult(bool Passed, int Tests, int Replay, SpecFailure? Failure)
{
    /// <summary>The failure report, or a one-line summary of the passing run.</summary>
    public string Message => Failure?.Message ?? $"SpecCheck: {Tests} tests passed (Replay = {Replay})";
}

/// <summary>
/// Checks a hand-written TorchSharp contraction against a <c>.tn</c> spec: random parameters within the spec's
/// ranges (its <c>require</c>s respected), random values, the result compared with an independent float64
/// contraction, its shape and dtype, the rank bound of each declared cut, and its autograd gradient against
/// finite differences. A failure is shrunk (parameters toward 1 and 2) and reported with a Replay seed.
/// </summary>
public static class SpecCheck
{
    /// <summary>Checks the forward and throws <see cref="SpecCheckFailedException"/> with the report on failure.</summary>
    /// <param name="specPath">The <c>.tn</c> file.</param>
    /// <param name="forward">The code under test: the spec's tensors in, the network's value out.</param>
    /// <param name="options">Settings (null: the defaults).</param>
    public static void Contraction(string specPath, Func<SpecTensors, Tensor> forward, SpecCheckOptions? options = null)
    {
        var result = Run(specPath, forward, options);
        if (result.Failure is { } f)
            throw new SpecCheckFailedException(f);
    }

    /// <summary>Checks the forward and returns the outcome instead of throwing.</summary>
    public static SpecCheckResult Run(string specPath, Func<SpecTensors, Tensor> forward, SpecCheckOptions? options = null)
    {
        options ??= new SpecCheckOptions();
        RequireTorch();
        var dtype = options.DType;
        SpecCheckOptions.ToDType(dtype);
        var impl = SpecInterop.Implementation(s => Forward(forward, s, dtype), (s, cot) => Gradient(forward, s, cot, dtype));
        var outcome = SpecRun.check(specPath, impl, options.ToCore());
        return outcome switch
        {
            SpecOutcome.Passed p => new SpecCheckResult(true, p.tests, p.replay, null),
            SpecOutcome.Failed f => new SpecCheckResult(false, f.Item.Tests, f.Item.Replay, f.Item),
            _ => throw new InvalidOperationException("unknown outcome"),
        };
    }

    /// <summary>
    /// Checks a path-driven contraction under every optimizer's plan (order independence): on every case the
    /// forward runs once per optimizer in the planner's registry with that plan's path (opt_einsum's linear
    /// convention: pairs of positions in the current operand list, the result appended), and every result is held
    /// to the reference. Throws <see cref="SpecCheckFailedException"/> naming the optimizer whose plan disagreed.
    /// </summary>
    public static void Plans(string specPath, Func<SpecTensors, string, IReadOnlyList<(int, int)>, Tensor> forward, SpecCheckOptions? options = null)
    {
        options ??= new SpecCheckOptions();
        RequireTorch();
        var dtype = options.DType;
        var core = options.ToCore();
        var impl = SpecInterop.OverPlans(core, (s, name, path) => Forward(t => forward(t, name, path), s, dtype));
        if (SpecRun.check(specPath, impl, core) is SpecOutcome.Failed f)
            throw new SpecCheckFailedException(f.Item);
    }

    /// <summary>
    /// Throws what <see cref="NativeLoadFailure"/> makes when TorchSharp's native library does not load. Otherwise every
    /// forward threw TorchSharp's type-initialisation error, which the check reported as the forward not matching the
    /// spec, shrunk to its smallest case (session 24's probe of docs/testing.md on Debian 12).
    /// </summary>
    static void RequireTorch()
    {
        try
        {
            RuntimeHelpers.RunClassConstructor(typeof(torch).TypeHandle);
        }
        catch (TypeInitializationException e)
        {
            throw NativeLoadFailure(e);
        }
    }

    /// <summary>The error for a TorchSharp that does not load: its first line of cause, and what to do about it.</summary>
    internal static InvalidOperationException NativeLoadFailure(TypeInitializationException e)
    {
        var cause = (e.InnerException ?? e).Message.Split('\n')[0].Trim();
        return new InvalidOperationException(
            $"SpecCheck: TorchSharp's native library does not load, so no forward can run ({cause}). Where the system's "
            + "libstdc++ predates GCC 13 (Debian 12), reference TnDsl.Native and call TnDsl.Native.NativeLoader.EnsureLoaded() "
            + "before the check.", e);
    }

    /// <summary>A dense float64 value as a TorchSharp tensor of the dtype.</summary>
    public static Tensor ToTensor(Dense d, ScalarType dtype, bool requiresGrad = false)
    {
        var shape = d.Shape.Select(s => (long)s).ToArray();
        using var values = tensor(d.Data, shape, ScalarType.Float64);
        var t = values.to_type(dtype);
        return requiresGrad ? t.requires_grad_() : t;
    }

    /// <summary>A TorchSharp tensor's entries, row-major, as float64.</summary>
    public static double[] ToArray(Tensor t)
    {
        using var scope = NewDisposeScope();
        var values = t.detach().cpu().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        GC.KeepAlive(t);
        return values;
    }

    static string DTypeName(ScalarType t) =>
        t switch
        {
            ScalarType.Float64 => "float64",
            ScalarType.Float32 => "float32",
            _ => t.ToString().ToLowerInvariant(),
        };

    static SpecOutput Forward(Func<SpecTensors, Tensor> forward, SpecSample s, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var inputs = s.Values.Select(v => ToTensor(v, dtype)).ToArray();
        var result = forward(new SpecTensors(s, inputs));
        return new SpecOutput(result.shape, DTypeName(result.dtype), ToArray(result));
    }

    /// The gradient of Σ cotangent ⊙ forward with respect to every tensor, by autograd; a tensor the result does
    /// not depend on gets zeros.
    static Dense[] Gradient(Func<SpecTensors, Tensor> forward, SpecSample s, Dense cotangent, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var enabled = enable_grad();
        var leaves = s.Values.Select(v => ToTensor(v, dtype, requiresGrad: true)).ToArray();
        var result = forward(new SpecTensors(s, leaves));
        var cot = ToTensor(cotangent, result.dtype);
        if (!result.shape.SequenceEqual(cot.shape))
            throw new InvalidOperationException($"the result has shape [{string.Join(", ", result.shape)}], the output [{string.Join(", ", cot.shape)}]");
        var loss = (result * cot).sum();
        loss.backward();
        return leaves.Select((leaf, k) =>
        {
            var g = leaf.grad;
            var data = g is null ? new double[s.Values[k].Data.Length] : ToArray(g);
            return new Dense(s.Values[k].Labels, s.Values[k].Shape, data);
        }).ToArray();
    }
}

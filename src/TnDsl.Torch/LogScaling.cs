using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>
/// A network's value in log-scale: <see cref="Value"/> times e^<see cref="LogScale"/>, the log-scale broadcast over
/// the value's batch axes. <see cref="Value"/>'s largest absolute entry per batch element is 1 (or 0 for an all-zero
/// element), so for a one-number-per-sample network log|ψ| = log|Value| + LogScale stays finite where ψ itself
/// overflows or underflows.
/// </summary>
/// <param name="Value">The normalised result, axes as the network's output legs.</param>
/// <param name="LogScale">Natural-log scale, one entry per batch element: its axes are the output's dynamic (batch)
/// legs in output order (a scalar when the output has none).</param>
/// <param name="BatchAxes">The positions of those legs among <see cref="Value"/>'s axes.</param>
public sealed record LogScaled(Tensor Value, Tensor LogScale, int[] BatchAxes) : IDisposable
{
    /// <summary>The log-scale reshaped to broadcast against <see cref="Value"/> (size 1 on the non-batch axes).</summary>
    public Tensor ExpandedLogScale()
    {
        var shape = Enumerable.Repeat(1L, (int)Value.dim()).ToArray();
        for (int k = 0; k < BatchAxes.Length; k++)
            shape[BatchAxes[k]] = LogScale.shape[k];
        return LogScale.reshape(shape);
    }

    /// <summary>log|value| entry-wise: log|Value| + the log-scale (−∞ where the value is exactly 0).</summary>
    public Tensor LogAbs()
    {
        using var scope = NewDisposeScope();
        return Plus(Value.abs().log(), ExpandedLogScale()).MoveToOuterDisposeScope();
    }

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Value.Dispose();
        LogScale.Dispose();
    }
}

/// <summary>One live operand of a forward call: its value, whether the call owns it (may dispose it), its labels,
/// its log-scale (see <see cref="LogScaling"/>; null when not running in log-scale), and, for a one-hot product deferred
/// by the lowering (<see cref="DeferOneHot"/>), the class numbers the value is still to be multiplied by, and
/// within a <see cref="OneHotChain"/>, the operands its links collected so far.</summary>
readonly record struct LiveOperand(Tensor Value, bool Owned, IReadOnlyList<int> Labels, Tensor? Log, Tensor? Classes = null, ChainParts? Chain = null);

/// <summary>
/// The bookkeeping of log-scale execution for one forward call. Every operand carries a log-scale tensor with one
/// axis per dynamic label of the network (in <c>dynamicLabels</c> order), of the label's size where the operand's
/// scale varies along it and 1 elsewhere, so that scales of two operands add by broadcasting. An operand's scale
/// varies only along dynamic labels it carries.
/// </summary>
sealed class LogScaling(int[] dynamicLabels, ScalarType dtype, Device device)
{
    /// <summary>The log-scale of an operand that has not been rescaled.</summary>
    public Tensor Zero() => zeros(Enumerable.Repeat(1L, dynamicLabels.Length).ToArray(), dtype, device);

    /// <summary>Divides <paramref name="value"/> by its largest absolute entry per batch element (1 where that is
    /// 0) and adds the logarithm of the divisor to <paramref name="log"/>.</summary>
    public LiveOperand Normalise(Tensor value, bool owned, IReadOnlyList<int> labels, Tensor log)
    {
        var batch = new List<long>();
        var other = new List<long>();
        for (int k = 0; k < labels.Count; k++)
            (Array.IndexOf(dynamicLabels, labels[k]) >= 0 ? batch : other).Add(k);
        var m = other.Count == 0 ? value.abs() : value.abs().amax(other.ToArray(), keepdim: true);
        m = where(Equal(m, 0.0), ones_like(m), m).detach_();
        var scaled = value / m;
        if (owned)
            value.Dispose();
        return new LiveOperand(scaled, true, labels, Plus(log, ToCanonical(m.log(), labels)));
    }

    /// <summary>
    /// Before a step that sums the dynamic labels in <paramref name="summed"/>: where the operand's scale varies
    /// along one of them, multiplies the values by e^(scale − max scale along it) and keeps the max as the scale
    /// (the log-sum-exp shift), so that the sum runs over values on one common scale.
    /// </summary>
    public LiveOperand Fold(LiveOperand op, IReadOnlyList<int> summed)
    {
        var log = op.Log!;
        var varying = summed.Select(l => Array.IndexOf(dynamicLabels, l)).Where(k => k >= 0 && log.shape[k] > 1).Select(k => (long)k).ToArray();
        if (varying.Length == 0)
            return op;
        var max = log.amax(varying, keepdim: true);
        var factor = FromCanonical(Minus(log, max).exp(), op.Labels);
        var value = op.Value * factor;
        if (op.Owned)
            op.Value.Dispose();
        return op with { Value = value, Owned = true, Log = max };
    }

    /// <summary>A log-scale in canonical form as a tensor over the dynamic legs <paramref name="legs"/>, in order.</summary>
    public Tensor ToLegs(Tensor log, int[] legs)
    {
        var order = legs.Select(l => (long)Array.IndexOf(dynamicLabels, l)).ToList();
        var perm = order.Concat(Enumerable.Range(0, dynamicLabels.Length).Select(k => (long)k).Where(k => !order.Contains(k))).ToArray();
        var shape = order.Select(k => log.shape[k]).ToArray();
        return (perm.Length == 0 ? log : log.permute(perm)).reshape(shape);
    }

    /// Sizes of an operand's dynamic labels (in operand order) and their canonical positions.
    List<(int Axis, int Canonical)> Present(IReadOnlyList<int> labels) =>
        labels.Select((l, axis) => (axis, Array.IndexOf(dynamicLabels, l))).Where(x => x.Item2 >= 0).ToList();

    /// A tensor over an operand's axes (label sizes on its dynamic axes, 1 elsewhere) in canonical form.
    Tensor ToCanonical(Tensor t, IReadOnlyList<int> labels)
    {
        var present = Present(labels);
        var x = t.reshape(present.Select(p => t.shape[p.Axis]).ToArray());
        var byCanonical = present.Select((p, i) => (p.Canonical, i)).OrderBy(p => p.Canonical).Select(p => (long)p.i).ToArray();
        if (byCanonical.Length > 1)
            x = x.permute(byCanonical);
        var target = Enumerable.Repeat(1L, dynamicLabels.Length).ToArray();
        foreach (var p in present)
            target[p.Canonical] = t.shape[p.Axis];
        return x.reshape(target);
    }

    /// A canonical tensor laid out over an operand's axes (its dynamic axes sized, 1 elsewhere).
    Tensor FromCanonical(Tensor c, IReadOnlyList<int> labels)
    {
        var present = Present(labels);
        var first = present.Select(p => (long)p.Canonical).ToList();
        var perm = first.Concat(Enumerable.Range(0, dynamicLabels.Length).Select(k => (long)k).Where(k => !first.Contains(k))).ToArray();
        var x = perm.Length == 0 ? c : c.permute(perm);
        var target = Enumerable.Repeat(1L, labels.Count).ToArray();
        foreach (var p in present)
            target[p.Axis] = c.shape[p.Canonical];
        return x.reshape(target);
    }
}

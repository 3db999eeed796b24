using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch.BornMachine;

/// <summary>
/// Tensor operations with a number, holding the <see cref="Scalar"/> alive (and disposing it) around the native call.
/// </summary>
/// <remarks>
/// TorchSharp's operators with numbers (<c>t * 2.0</c>, <c>a + b</c> whose implicit alpha is 1, <c>clamp_min(x)</c>,
/// <c>pow(2)</c>) create a temporary <see cref="Scalar"/> that nothing references while the native call runs; its
/// finaliser can free it mid-call and the memory be reused. In a long training run this showed up once in ~50 000 bond
/// updates as "For integral input tensors, argument alpha must not be a floating point number" on an integer add; on
/// float tensors the same race could silently change a result. Every operation with a number in the Born machine goes
/// through here: <c>using</c> keeps the Scalar reachable until the call has returned, and the constants ±1 are rooted.
/// </remarks>
static class ScalarOps
{
    static readonly Scalar One = 1L.ToScalar();
    static readonly Scalar MinusOne = (-1L).ToScalar();

    /// <summary>a + b.</summary>
    public static Tensor Plus(Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a − b.</summary>
    public static Tensor Minus(Tensor a, Tensor b) => a.add(b, MinusOne);

    /// <summary>t · x.</summary>
    public static Tensor Times(Tensor t, double x)
    {
        using var s = x.ToScalar();
        return t.mul(s);
    }

    /// <summary>t · x for integer tensors.</summary>
    public static Tensor Times(Tensor t, long x)
    {
        using var s = x.ToScalar();
        return t.mul(s);
    }

    /// <summary>t / x.</summary>
    public static Tensor Over(Tensor t, double x)
    {
        using var s = x.ToScalar();
        return t.div(s);
    }

    /// <summary>max(t, x) element-wise.</summary>
    public static Tensor ClampMin(Tensor t, double x)
    {
        using var s = x.ToScalar();
        return t.clamp_min(s);
    }

    /// <summary>min(t, x) element-wise for integer tensors.</summary>
    public static Tensor ClampMax(Tensor t, long x)
    {
        using var s = x.ToScalar();
        return t.clamp_max(s);
    }

    /// <summary>t² element-wise.</summary>
    public static Tensor Square(Tensor t) => t.mul(t);

    /// <summary>A tensor like t filled with x.</summary>
    public static Tensor FullLike(Tensor t, double x)
    {
        using var s = x.ToScalar();
        return full_like(t, s);
    }

    /// <summary>t &lt; x element-wise.</summary>
    public static Tensor Less(Tensor t, double x)
    {
        using var s = x.ToScalar();
        return t.lt(s);
    }
}

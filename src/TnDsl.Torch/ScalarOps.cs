using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// Tensor operations with a number, each holding its <see cref="Scalar"/> alive (and disposing it) around the native
/// call. Every operation between a tensor and a number in TnDsl's TorchSharp code goes through here.
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp's operations with numbers (<c>t * 2.0</c>, <c>t.mul(x)</c>, <c>a + b</c> and <c>a - b</c> whose implicit
/// alpha is the number 1, <c>clamp_min(x)</c>, <c>pow(2)</c>, <c>full_like(t, x)</c>, <c>t == 0</c>, <c>arange(n)</c>, ...) convert the
/// number to a temporary <see cref="Scalar"/>, read its native handle and pass the bare pointer to libtorch. After the
/// handle is read nothing references the Scalar, so the garbage collector may finalise it (Scalar has a finaliser that
/// frees the native object) while the native call is still using it, and the memory can be reused underneath.
/// TorchSharp calls no <c>GC.KeepAlive</c> there (read in dotnet/TorchSharp: <c>Scalar.cs</c> has
/// <c>~Scalar() =&gt; Dispose(false)</c>; <c>Tensor.Math.cs</c> has <c>add(Tensor target) =&gt; add(target, 1)</c> and
/// <c>add(Tensor, Scalar alpha)</c> passing <c>alpha.Handle</c> straight to <c>THSTensor_add</c>).
/// </para>
/// <para>
/// In a long Born-machine training run this showed up once in ~50 000 bond updates as "For integral input tensors,
/// argument alpha must not be a floating point number" on an integer add; on float tensors the same race could
/// silently change a result. Here a <c>using</c> local keeps each Scalar reachable until the call has returned (its
/// <c>Dispose</c> runs after), and the constants ±1 used as alpha are rooted in static fields for the process's life.
/// </para>
/// <para>
/// The same holds for a tensor operand: a Tensor also has a finaliser, and a temporary one (<c>Plus(Times(r, s), m)</c>)
/// is unreachable once its handle has been read. Outside a dispose scope (which references every tensor it holds) the
/// collector may free it mid-call; this crashed the test host once, in libtorch's <c>TensorIterator</c> under
/// <c>THSTensor_add_scalar</c> from <c>Initializers.Make</c>, with the finaliser having run. So every operation here
/// also keeps its tensor operands reachable (<c>GC.KeepAlive</c>) until the native call has returned.
/// </para>
/// <para>
/// Results are those of the plain TorchSharp operation: the same libtorch kernel with the same operands (a − b is
/// libtorch's add with alpha −1, exactly what its sub does).
/// </para>
/// </remarks>
public static class ScalarOps
{
    static readonly Scalar One = 1L.ToScalar();
    static readonly Scalar MinusOne = (-1L).ToScalar();

    /// <summary>The one place a number becomes a <see cref="Scalar"/>: <paramref name="op"/> runs on
    /// <paramref name="t"/> while both it and the Scalar are referenced; the Scalar is disposed after the native call
    /// has returned.</summary>
    static Tensor With(Tensor t, double x, Func<Tensor, Scalar, Tensor> op)
    {
        using var s = x.ToScalar();
        var result = op(t, s);
        GC.KeepAlive(t);
        return result;
    }

    /// <summary>As <see cref="With(Tensor, double, Func{Tensor, Scalar, Tensor})"/> for an integer (an integer tensor
    /// stays integral).</summary>
    static Tensor With(Tensor t, long x, Func<Tensor, Scalar, Tensor> op)
    {
        using var s = x.ToScalar();
        var result = op(t, s);
        GC.KeepAlive(t);
        return result;
    }

    /// <summary>As <see cref="With(Tensor, double, Func{Tensor, Scalar, Tensor})"/> with a second tensor operand.</summary>
    static Tensor With(Tensor t, Tensor u, double x, Func<Tensor, Tensor, Scalar, Tensor> op)
    {
        using var s = x.ToScalar();
        var result = op(t, u, s);
        GC.KeepAlive(t);
        GC.KeepAlive(u);
        return result;
    }

    /// <summary>As <see cref="With(Tensor, double, Func{Tensor, Scalar, Tensor})"/> with two more tensor operands.</summary>
    static Tensor With(Tensor t, Tensor u, Tensor v, double x, Func<Tensor, Tensor, Tensor, Scalar, Tensor> op)
    {
        using var s = x.ToScalar();
        var result = op(t, u, v, s);
        GC.KeepAlive(t);
        GC.KeepAlive(u);
        GC.KeepAlive(v);
        return result;
    }

    /// <summary>A tensor–tensor operation with both operands referenced until it has returned.</summary>
    static Tensor Both(Tensor a, Tensor b, Func<Tensor, Tensor, Tensor> op)
    {
        var result = op(a, b);
        GC.KeepAlive(a);
        GC.KeepAlive(b);
        return result;
    }

    /// <summary>a + b (tensors), with a rooted alpha of 1.</summary>
    public static Tensor Plus(Tensor a, Tensor b) => Both(a, b, static (a, b) => a.add(b, One));

    /// <summary>a − b (tensors), with a rooted alpha of −1.</summary>
    public static Tensor Minus(Tensor a, Tensor b) => Both(a, b, static (a, b) => a.add(b, MinusOne));

    /// <summary>t + x.</summary>
    public static Tensor Plus(Tensor t, double x) => With(t, x, static (t, s) => t.add(s, One));

    /// <summary>t + x for an integer x (keeps an integer tensor integral).</summary>
    public static Tensor Plus(Tensor t, long x) => With(t, x, static (t, s) => t.add(s, One));

    /// <summary>t − x.</summary>
    public static Tensor Minus(Tensor t, double x) => With(t, x, static (t, s) => t.add(s, MinusOne));

    /// <summary>t − x for an integer x (keeps an integer tensor integral).</summary>
    public static Tensor Minus(Tensor t, long x) => With(t, x, static (t, s) => t.add(s, MinusOne));

    /// <summary>t · x.</summary>
    public static Tensor Times(Tensor t, double x) => With(t, x, static (t, s) => t.mul(s));

    /// <summary>t · x for an integer x (keeps an integer tensor integral).</summary>
    public static Tensor Times(Tensor t, long x) => With(t, x, static (t, s) => t.mul(s));

    /// <summary>t / x (true division).</summary>
    public static Tensor Over(Tensor t, double x) => With(t, x, static (t, s) => t.div(s));

    /// <summary>t / x (true division) for an integer x.</summary>
    public static Tensor Over(Tensor t, long x) => With(t, x, static (t, s) => t.div(s));

    /// <summary>t ← t · x in place; returns t.</summary>
    public static Tensor TimesInPlace(Tensor t, double x) => With(t, x, static (t, s) => t.mul_(s));

    /// <summary>t ← t + x in place; returns t (TorchSharp's <c>add_(x)</c>, with a rooted alpha of 1).</summary>
    public static Tensor PlusInPlace(Tensor t, double x) => With(t, x, static (t, s) => t.add_(s, One));

    /// <summary>t ← t + alpha · u in place; returns t (TorchSharp's <c>add_(u, alpha)</c>).</summary>
    public static Tensor PlusScaledInPlace(Tensor t, Tensor u, double alpha) =>
        With(t, u, alpha, static (t, u, s) => t.add_(u, s));

    /// <summary>t ← t + x · a · b element-wise, in place; returns t (TorchSharp's <c>addcmul_(a, b, x)</c>).</summary>
    public static Tensor PlusProductInPlace(Tensor t, Tensor a, Tensor b, double x) =>
        With(t, a, b, x, static (t, a, b, s) => t.addcmul_(a, b, s));

    /// <summary>t ← t + x · a / b element-wise, in place; returns t (TorchSharp's <c>addcdiv_(a, b, x)</c>).</summary>
    public static Tensor PlusQuotientInPlace(Tensor t, Tensor a, Tensor b, double x) =>
        With(t, a, b, x, static (t, a, b, s) => t.addcdiv_(a, b, s));

    /// <summary>t ← x everywhere, in place; returns t.</summary>
    public static Tensor Fill(Tensor t, double x) => With(t, x, static (t, s) => t.fill_(s));

    /// <summary>t ← t / x in place; returns t.</summary>
    public static Tensor OverInPlace(Tensor t, double x) => With(t, x, static (t, s) => t.div_(s));

    /// <summary>t mod x element-wise (Python's remainder: the sign of x).</summary>
    public static Tensor Remainder(Tensor t, long x) => With(t, x, static (t, s) => t.remainder(s));

    /// <summary>max(t, x) element-wise.</summary>
    public static Tensor ClampMin(Tensor t, double x) => With(t, x, static (t, s) => t.clamp_min(s));

    /// <summary>min(t, x) element-wise for integer tensors.</summary>
    public static Tensor ClampMax(Tensor t, long x) => With(t, x, static (t, s) => t.clamp_max(s));

    /// <summary>t² element-wise (a product of tensors, no Scalar involved).</summary>
    public static Tensor Square(Tensor t) => Both(t, t, static (a, b) => a.mul(b));

    /// <summary>A tensor like t (shape, dtype, device) filled with x.</summary>
    public static Tensor FullLike(Tensor t, double x) => With(t, x, static (t, s) => full_like(t, s));

    /// <summary>A tensor of the given shape, dtype and device filled with x.</summary>
    public static Tensor Full(long[] shape, double x, ScalarType dtype, Device? device = null) 
    {
        using var s = x.ToScalar();
        return full(shape, s, dtype, device);
    }

    /// <summary>The integers start, start + step, … short of stop (TorchSharp's <c>arange</c>, whose bounds are
    /// Scalars), in the given dtype and device.</summary>
    public static Tensor Arange(long start, long stop, long step, ScalarType dtype, Device? device = null)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        using var c = step.ToScalar();
        return arange(a, b, c, dtype, device);
    }

    /// <summary>0, 1, …, stop − 1 (TorchSharp's <c>arange(stop)</c>, which makes its Scalars 0 and 1 internally).</summary>
    public static Tensor Arange(long stop, ScalarType dtype, Device? device = null) => Arange(0, stop, 1, dtype, device);

    /// <summary>t[indices] ← x in place (TorchSharp's <c>t[i, j] = x</c>); returns t.</summary>
    public static Tensor Put(Tensor t, double x, params TensorIndex[] indices) => With(t, x, (t, s) => t.index_put_(s, indices));

    /// <summary>t &lt; x element-wise (a boolean tensor).</summary>
    public static Tensor Less(Tensor t, double x) => With(t, x, static (t, s) => t.lt(s));

    /// <summary>t ≥ x element-wise for an integer x (a boolean tensor).</summary>
    public static Tensor GreaterEqual(Tensor t, long x) => With(t, x, static (t, s) => t.ge(s));

    /// <summary>t = x element-wise (a boolean tensor).</summary>
    public static Tensor Equal(Tensor t, double x) => With(t, x, static (t, s) => t.eq(s));
}

using TorchSharp.Modules;
using static TnDsl.Torch.ScalarOps;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// A first-order optimizer over a fixed list of parameters whose step does every operation between a tensor and a
/// number through <see cref="ScalarOps"/>: <see cref="Adam"/> and <see cref="Sgd"/>, in place of TorchSharp's
/// <c>optim.Adam</c> and <c>optim.SGD</c>, with the same calls (<c>step()</c>, <c>zero_grad()</c>, <c>Dispose()</c>).
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp's optimizers update the parameters with calls such as <c>param.add_(grad, alpha: -lr)</c> and
/// <c>exp_avg.mul_(beta1)</c>, whose numbers become temporary Scalars that nothing references once their native handle
/// has been read, so the garbage collector may finalise one in the middle of the native call (see the remarks of
/// <see cref="ScalarOps"/>). CI failed once this way: libtorch's "Expected false to be true" from
/// <c>Scalar::toFloat</c> inside <c>add_</c>, called from TorchSharp's SGD step in a test's training loop. TorchSharp
/// 0.107.0, the only version available, calls no <c>GC.KeepAlive</c> there, so TnDsl's training loops use these
/// instead.
/// </para>
/// <para>
/// A step runs under <c>no_grad</c>; it skips a parameter without a gradient, and makes at most one temporary the size of
/// one parameter at a time, freed before the next parameter's update (<see cref="Adam"/>'s denominator; <see cref="Sgd"/>
/// makes none). Every tensor operand is referenced until its native call has returned: the parameters and the state by
/// this object, the gradient and the temporaries by <c>using</c> locals, and each call's operands by ScalarOps.
/// </para>
/// </remarks>
public abstract class RootedOptimizer : IDisposable
{
    readonly Parameter[] parameters;
    bool disposed;

    /// <summary>An optimizer of <paramref name="parameters"/> (a module's <c>parameters()</c>), in that order.</summary>
    protected RootedOptimizer(IEnumerable<Parameter> parameters)
    {
        this.parameters = parameters.ToArray();
    }

    /// <summary>The parameters it updates, in the order given.</summary>
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>Sets every parameter's gradient to zero, in place (a parameter without one is left without), as
    /// TorchSharp's <c>zero_grad</c> does.</summary>
    public void zero_grad()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        foreach (var p in parameters)
        {
            using var grad = p.grad;
            // TorchSharp's zero_ returns a new wrapper of the same tensor (its zeros_out): disposed here, where
            // TorchSharp's own zero_grad leaves it to a dispose scope or the finaliser.
            using var zeroed = grad?.zero_();
        }
    }

    /// <summary>One update of every parameter that has a gradient, under <c>no_grad</c>.</summary>
    public void step()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            using var grad = p.grad;
            if (grad is not null)
                Update(i, p, grad);
        }
    }

    /// <summary>Updates parameter number <paramref name="index"/> from its gradient (under <c>no_grad</c>); every
    /// temporary it makes is disposed before it returns.</summary>
    protected abstract void Update(int index, Parameter parameter, Tensor grad);

    /// <summary>Disposes the optimizer's state tensors.</summary>
    protected abstract void DisposeState();

    /// <summary>Disposes the optimizer's state (the parameters are the caller's).</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        DisposeState();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// Adam with TorchSharp's defaults and update rule (<c>optim.Adam</c> without weight decay, AMSGrad or maximize):
/// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g·ḡ, p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε), with t counted
/// per parameter. It gives TorchSharp's values, operation for operation, without its Scalar race (see
/// <see cref="RootedOptimizer"/>).
/// </summary>
/// <remarks>
/// State: the two moments, zero tensors like each parameter, made at construction (what the memory estimate counts as
/// <c>MemoryModel.AdamSlots</c>). A step adds one parameter-sized temporary at a time (the denominator).
/// </remarks>
public sealed class Adam : RootedOptimizer
{
    readonly double learningRate, beta1, beta2, eps;
    readonly Tensor[] means, squares;
    readonly long[] steps;

    /// <summary>Adam over <paramref name="parameters"/> (TorchSharp's <c>optim.Adam(parameters, lr, beta1, beta2,
    /// eps)</c>, same defaults).</summary>
    public Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : base(parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lr);
        ArgumentOutOfRangeException.ThrowIfNegative(eps);
        if (beta1 is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "must be in [0, 1)");
        if (beta2 is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "must be in [0, 1)");
        (learningRate, this.beta1, this.beta2, this.eps) = (lr, beta1, beta2, eps);
        means = Parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        squares = Parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        steps = new long[Parameters.Count];
    }

    /// <inheritdoc/>
    protected override void Update(int index, Parameter parameter, Tensor grad)
    {
        long t = ++steps[index];
        double correction1 = 1 - Math.Pow(beta1, t);
        double correction2 = 1 - Math.Pow(beta2, t);
        var mean = means[index];
        var square = squares[index];
        PlusScaledInPlace(TimesInPlace(mean, beta1), grad, 1 - beta1);
        using (var conjugate = grad.conj())
            PlusProductInPlace(TimesInPlace(square, beta2), grad, conjugate, 1 - beta2);
        using var denominator = square.sqrt();
        PlusInPlace(OverInPlace(denominator, Math.Sqrt(correction2)), eps);
        PlusQuotientInPlace(parameter, mean, denominator, -(learningRate / correction1));
    }

    /// <inheritdoc/>
    protected override void DisposeState()
    {
        foreach (var t in means.Concat(squares))
            t.Dispose();
    }
}

/// <summary>
/// Plain stochastic gradient descent, p ← p − lr·g (TorchSharp's <c>optim.SGD(parameters, lr)</c> without momentum,
/// dampening, weight decay or maximize), without its Scalar race (see <see cref="RootedOptimizer"/>). It keeps no state.
/// </summary>
public sealed class Sgd : RootedOptimizer
{
    readonly double learningRate;

    /// <summary>SGD over <paramref name="parameters"/> with learning rate <paramref name="lr"/>.</summary>
    public Sgd(IEnumerable<Parameter> parameters, double lr) : base(parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lr);
        learningRate = lr;
    }

    /// <inheritdoc/>
    protected override void Update(int index, Parameter parameter, Tensor grad) =>
        PlusScaledInPlace(parameter, grad, -learningRate);

    /// <inheritdoc/>
    protected override void DisposeState()
    {
    }
}

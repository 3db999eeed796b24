namespace TnDsl.BornMachine;

/// <summary>How the gradient of a merged tensor is scaled before a step.</summary>
public enum GradientScaling
{
    /// <summary>The plain gradient.</summary>
    Plain,
    /// <summary>
    /// The authors' "norm0.25": with g = ∇/2, if ‖g‖ / numel(g)^¼ &lt; 1 the gradient is divided by that factor, so
    /// steps on small gradients (near saddle points, late in training) are not vanishingly small.
    /// </summary>
    Norm025,
}

/// <summary>A bond update produced a non-finite tensor: the steps diverged (a learning rate far too large).</summary>
public sealed class BornDivergedException(string message) : Exception(message);

/// <summary>How a merged tensor is split back into two sites.</summary>
public enum SplitMethod
{
    /// <summary>An SVD of the merged matrix (<see cref="SvdSplit.Split"/>): exact for any cutoff.</summary>
    Svd,
    /// <summary>
    /// An eigendecomposition of its Gram (<see cref="SvdSplit.SplitByGram"/>): 1.5–1.9× faster at D ≥ 100, resolves
    /// singular values down to about 10⁻⁸ of the largest, so for runs whose bonds are capped by Dmax.
    /// </summary>
    Gram,
}

/// <summary>Training hyper-parameters of the MPS Born machine (defaults: the authors' MNIST settings).</summary>
public sealed record BornOptions
{
    /// <summary>The largest bond dimension the SVD split keeps.</summary>
    public int Dmax { get; init; } = 30;
    /// <summary>
    /// Singular values not greater than cutoff × the largest are dropped. The default is the authors' 10⁻⁵⁰, which keeps
    /// everything up to Dmax: with 10⁻⁷ a Dmax 100 run on MNIST stood 0.2 nats higher at loop 62, and the authors' random
    /// bond-2 start stalled near 64 nats.
    /// </summary>
    public double Cutoff { get; init; } = 1e-50;
    /// <summary>The learning rate of the gradient steps on each merged tensor.</summary>
    public double LearningRate { get; init; } = 5e-3;
    /// <summary>Gradient steps per bond (the merged tensor is renormalised between steps).</summary>
    public int Steps { get; init; } = 1;
    /// <summary>How the gradient is scaled.</summary>
    public GradientScaling Scaling { get; init; } = GradientScaling.Norm025;
    /// <summary>The learning rate is multiplied by this after a loop whose training NLL went up (the authors use 0.2).</summary>
    public double DecayOnIncrease { get; init; } = 0.2;
    /// <summary>
    /// Loops run at the starting learning rate before the decay rule applies: a rise in loops 1…HoldLoops does not
    /// lower it. A long phase at a high rate explores (the NLL fluctuates), and the first decay after it drops the NLL
    /// sharply; 0 applies the rule from the first loop, as the authors' script does.
    /// </summary>
    public int HoldLoops { get; init; }
    /// <summary>How merged tensors are split.</summary>
    public SplitMethod Split { get; init; } = SplitMethod.Svd;
    /// <summary>Seed of the initial tensors and of sampling.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Problems with the values, as messages (empty when all are valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Dmax < 1) problems.Add($"dmax must be at least 1, got {Dmax}");
        if (!(Cutoff >= 0 && Cutoff < 1)) problems.Add($"cutoff must be in [0, 1), got {Cutoff}");
        if (!(LearningRate > 0 && double.IsFinite(LearningRate))) problems.Add($"lr must be positive, got {LearningRate}");
        if (Steps < 1) problems.Add($"steps must be at least 1, got {Steps}");
        if (!(DecayOnIncrease > 0 && DecayOnIncrease <= 1)) problems.Add($"the decay factor must be in (0, 1], got {DecayOnIncrease}");
        if (HoldLoops < 0) problems.Add($"hold must be at least 0, got {HoldLoops}");
        return problems;
    }
}

/// <summary>One finished loop: training and test NLL (nats per image), the largest bond, the learning rate used, wall seconds.</summary>
public sealed record LoopRecord(int Loop, double TrainNll, double TestNll, int MaxBond, double LearningRate, double Seconds);

/// <summary>Where the time of a loop went, in seconds, with the number of bond updates.</summary>
public sealed record LoopProfile(int Bonds, double Gradient, double Svd, double Environment, double Setup, double Nll)
{
    /// <summary>All parts together.</summary>
    public double Total => Gradient + Svd + Environment + Setup + Nll;
}

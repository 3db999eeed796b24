using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>Checks that a training step leaves no live tensors behind.</summary>
static class LeakCheck
{
    /// <summary>
    /// Runs <paramref name="loss"/> as a training step (zero_grad, backward, step, inside a dispose scope) three times to
    /// warm up, then twenty more, and asserts that the number of live tensors did not change over those twenty.
    /// </summary>
    public static void AssertTrainingStepsLeakNothing(RootedOptimizer opt, Func<Tensor> loss)
    {
        static long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        void Step()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            loss().backward();
            opt.step();
        }
        for (int s = 0; s < 3; s++)
            Step();
        long before = Live();
        for (int s = 0; s < 20; s++)
            Step();
        Assert.Equal(before, Live());
    }
}

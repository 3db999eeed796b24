using System.Numerics;
using TnDsl.BornMachine;
using TnDsl.Torch;
using Xunit;
using static TnDsl.BornMachine.Tests.BornMachineSupport;

namespace TnDsl.BornMachine.Tests;

/// The memory guard as bonds grow: each bond update and each chunk of environment buffers is checked against the limit.
public class GrowthGuardTests
{
    static readonly BornOptions Options = new() { Dmax = 16, LearningRate = 0.05, Seed = 3 };

    /// Bars and stripes from bond 2, so that the bonds grow loop after loop (2 → 8 → 16), under <paramref name="limit"/> (null: the default).
    static (BornTrainer Trainer, MpsLayout Layout, BornDataset Data) Start(long? limit)
    {
        var data = BornData.Load(BarsAndStripesDir);
        var layout = BornSetup.LoadLayout(BornMachineTn, [new("chi", "2")], data.Train.Size);
        using var _ = MemoryGuard.Advise("raise the limit", limit, limit is null ? null : "the test's limit");
        return (BornTrainer.Start(layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout), Options), layout, data);
    }

    /// Bonds, NLLs, sites and the most bytes a check counted after each loop of an unlimited run.
    static (int[] Bonds, double[] Nll, double[][] Sites, BigInteger[] Most) Run(long? limit, int loops)
    {
        var (trainer, _, _) = Start(limit);
        using var _t = trainer;
        var most = new List<BigInteger>();
        for (int i = 0; i < loops; i++)
        {
            trainer.RunLoop();
            most.Add(trainer.MostBytesChecked);
        }
        var sites = Enumerable.Range(0, trainer.Model.Length).Select(k => trainer.Model[k].contiguous().data<double>().ToArray()).ToArray();
        return (trainer.History.Select(h => h.MaxBond).ToArray(), trainer.History.Select(h => h.TrainNll).ToArray(), sites, [.. most]);
    }

    [Fact]
    public void A_growth_past_the_limit_stops_the_loop_with_the_figures_and_the_last_checkpoint_resumes()
    {
        var free = Run(null, 3);
        Assert.Equal([2, 8, 16, 16], free.Bonds);
        // Loop 2 grows the bonds to 16: its state is larger than loop 1's, and the limit lies between them.
        Assert.True(free.Most[1] > free.Most[0], $"loop 1 checked {free.Most[0]}, loop 2 {free.Most[1]}");
        long limit = (long)((free.Most[0] + free.Most[1]) / 2);

        var path = Path.Combine(Path.GetTempPath(), $"tn-born-growth-{Guid.NewGuid():N}.bin");
        try
        {
            var (trainer, layout, data) = Start(limit);
            using (trainer)
            {
                Assert.Equal(limit, trainer.MemoryLimit);
                trainer.RunLoop();
                Checkpoint.Save(path, trainer.State(BornMachineTn, layout, BarsAndStripesDir, 4, 4), trainer.Model);
                var e = Assert.Throws<MemoryLimitException>(() => trainer.RunLoop());
                Assert.Equal(limit, e.Limit);
                Assert.True(e.BytesNeeded > limit);
                Assert.Contains("loop 2", e.What);
                Assert.Contains(MemoryGuard.Format(e.BytesNeeded), e.Message);
                Assert.Contains(MemoryGuard.Format(limit), e.Message);
                // One loop finished; the one stopped part-way is not recorded, and the trainer runs no more.
                Assert.Equal(1, trainer.Loop);
                Assert.Throws<InvalidOperationException>(() => trainer.RunLoop());
            }
            // What was saved loads, and resumed without the limit it continues as the uninterrupted run.
            var (state, model) = Checkpoint.Load(path);
            Assert.Equal(1, state.History[^1].Loop);
            using var resumed = BornTrainer.Resume(state, model, layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout));
            resumed.RunLoop();
            resumed.RunLoop();
            Assert.Equal(free.Nll, resumed.History.Select(h => h.TrainNll));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_run_whose_growth_fits_the_limit_is_unchanged()
    {
        var free = Run(null, 3);
        var limited = Run((long)free.Most[^1], 3);
        Assert.Equal(free.Bonds, limited.Bonds);
        Assert.Equal(free.Nll, limited.Nll);
        for (int k = 0; k < free.Sites.Length; k++)
            Assert.Equal(free.Sites[k], limited.Sites[k]);
    }
}

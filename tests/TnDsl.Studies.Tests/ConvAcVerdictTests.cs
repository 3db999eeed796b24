using System.Numerics;
using TnDsl.Studies;
using Xunit;

namespace TnDsl.Studies.Tests;

/// <summary>
/// The ConvAC study's verdicts: the difference of mean accuracies and Welch's t carry one sign, that of wide-bottom's
/// mean minus wide-top's, and their headers say so (the difference was printed unsigned beside a signed t, so a task
/// that wide-top won read +0.3 beside t = −40).
/// </summary>
public class ConvAcVerdictTests
{
    static ResultTable Table(object[] row)
    {
        var table = new ResultTable("verdicts", ConvAcStudy.VerdictHeaders);
        table.Add(row);
        return table;
    }

    [Fact]
    public void difference_and_welch_t_are_both_wide_bottom_minus_wide_top_as_their_headers_say()
    {
        var local = ConvAcTasks.All.Single(t => t.Name == "local");
        // wide-top the more accurate: both figures negative.
        var lost = Table(ConvAcStudy.Verdict(local, 0.6, [new BigInteger(8), new BigInteger(256)], [0.70, 0.72, 0.71], [0.90, 0.93, 0.92]));
        var row = lost.Rows[0];
        Assert.Equal("wide-top", row[lost.Column("more accurate (mean)")]);
        double diff = lost.Number(row, "difference (wide-bottom − wide-top)"), t = lost.Number(row, "Welch t (wide-bottom − wide-top)");
        Assert.Equal(0.71 - 0.9166666666666666, diff, 4);
        Assert.True(t < 0, $"t = {t}");
        // wide-bottom the more accurate: both positive.
        var won = Table(ConvAcStudy.Verdict(local, 0.6, [new BigInteger(256), new BigInteger(8)], [0.90, 0.93, 0.92], [0.70, 0.72, 0.71]));
        Assert.Equal("wide-bottom", won.Rows[0][won.Column("more accurate (mean)")]);
        Assert.Equal(-diff, won.Number(won.Rows[0], "difference (wide-bottom − wide-top)"), 4);
        Assert.Equal(-t, won.Number(won.Rows[0], "Welch t (wide-bottom − wide-top)"), 6);
        Assert.Equal("yes", won.Rows[0][won.Column("predicted")]);
    }

    [Fact]
    public void replot_redraws_from_verdicts_written_before_the_signed_headers_and_after()
    {
        var dir = Directory.CreateTempSubdirectory("tn-verdicts-").FullName;
        try
        {
            File.WriteAllLines(Path.Combine(dir, "runs.csv"), ["seed,network,task,final accuracy,best accuracy,majority baseline,train seconds",
                "1,wide-bottom,long-range,0.8705,0.8713,0.5100,9.5", "1,wide-top,long-range,0.4900,0.5100,0.5100,9.1",
                "1,wide-bottom,local,1.0000,1.0000,0.6793,8.9", "1,wide-top,local,0.7620,0.7620,0.6793,8.8"]);
            File.WriteAllLines(Path.Combine(dir, "networks.csv"), ["network,widths r0..r3,params (+bias)", "wide-bottom,14-6-3-2,170", "wide-top,2-4-8-12,170"]);
            // As examples/results/convac/verdicts.csv was written before the headers named the order.
            File.WriteAllLines(Path.Combine(dir, "verdicts.csv"), [
                "task,partition it needs,majority baseline,larger bound,more accurate (mean),difference,Welch t,permutation p,every seed apart,predicted",
                "long-range,left|right,0.5055,wide-top,wide-bottom,0.3701,61.1636,0.1000,yes,no",
                "local,odd|even,0.6774,wide-bottom,wide-bottom,0.2697,7.7692,0.1000,yes,yes"]);
            var before = Assert.Single(Replot.Run("convac", dir));
            Assert.Null(before.Failure);
            Assert.Equal(["long-range (left|right)", "local (odd|even)"], before.Categories);

            var verdicts = new ResultTable("Does the min-cut bound predict the winner?", ConvAcStudy.VerdictHeaders);
            verdicts.Add(ConvAcStudy.Verdict(ConvAcTasks.All.Single(t => t.Name == "long-range"), 0.5055, [new BigInteger(2), new BigInteger(8)], [0.8705], [0.49]));
            verdicts.Add(ConvAcStudy.Verdict(ConvAcTasks.All.Single(t => t.Name == "local"), 0.6774, [new BigInteger(65536), new BigInteger(256)], [1.0], [0.762]));
            verdicts.Save(dir, "verdicts");
            var after = Assert.Single(Replot.Run("convac", dir));
            Assert.Null(after.Failure);
            Assert.Equal(before.Categories, after.Categories);
            Assert.Equal(before.Series.Select(s => s.Y), after.Series.Select(s => s.Y));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

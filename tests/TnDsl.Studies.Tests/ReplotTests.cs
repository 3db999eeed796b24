using TnDsl.Studies;
using Xunit;

namespace TnDsl.Studies.Tests;

/// <summary><c>tn study replot</c>: pictures redrawn from small recorded CSVs, the plotted values read from them.</summary>
public sealed class ReplotTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tn-replot-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    void Write(string name, params string[] lines) => File.WriteAllLines(Path.Combine(dir, name), lines);

    static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), path);
        var head = File.ReadAllBytes(path).Take(4).ToArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, head);
    }

    [Fact]
    public void convac_accuracy_is_redrawn_from_runs_networks_and_verdicts()
    {
        Write("runs.csv", "seed,network,task,final accuracy,best accuracy,majority baseline,train seconds",
            "1,wide-bottom,long-range,0.8705,0.8713,0.5100,9.5", "1,wide-top,long-range,0.4900,0.5100,0.5100,9.1",
            "1,wide-bottom,local,1.0000,1.0000,0.6793,8.9", "1,wide-top,local,0.7620,0.7620,0.6793,8.8",
            "2,wide-bottom,long-range,0.8543,0.86,0.5003,9.5", "2,wide-top,long-range,0.5003,0.51,0.5003,9.1",
            "2,wide-bottom,local,0.9900,1.0000,0.6921,8.9", "2,wide-top,local,0.7680,0.77,0.6921,8.8");
        Write("networks.csv", "network,widths r0..r3,params (+bias)", "wide-bottom,14-6-3-2,100", "wide-top,2-4-8-12,100");
        Write("verdicts.csv", "task,partition it needs,predicted", "long-range,left|right,yes", "local,odd|even,yes");

        var chart = Assert.Single(Replot.Run("convac", dir));

        Assert.Null(chart.Failure);
        AssertPng(Path.Combine(dir, "accuracy.png"));
        Assert.Equal(["long-range (left|right)", "local (odd|even)"], chart.Categories);
        Assert.Equal(["wide-bottom (14-6-3-2)", "wide-top (2-4-8-12)", "majority baseline (mean of 2 seeds)"], chart.Series.Select(s => s.Name));
        // Network by network, task by task, seed by seed; each point beside its task's category position.
        Assert.Equal([0.8705, 0.8543, 1.0, 0.99], chart.Series[0].Y);
        Assert.Equal([0.49, 0.5003, 0.762, 0.768], chart.Series[1].Y);
        Assert.All(chart.Series[0].X.Zip([0, 0, 1, 1]), p => Assert.InRange(p.First - p.Second, -0.2, -0.05));
        Assert.All(chart.Series[1].X.Zip([0, 0, 1, 1]), p => Assert.InRange(p.First - p.Second, 0.05, 0.2));
        Assert.Equal([0.0, 1.0], chart.Series[2].X);
        Assert.Equal((0.51 + 0.5003) / 2, chart.Series[2].Y[0], 12);
        Assert.Equal((0.6793 + 0.6921) / 2, chart.Series[2].Y[1], 12);
    }

    [Fact]
    public void qcnn_entropy_and_loss_are_redrawn_from_epochs_and_an_uncomputed_entropy_is_left_out()
    {
        Write("epochs.csv", "dataset,epoch,train loss,test accuracy,mean EE left|right,mean EE up|down,EE left|right per label,EE up|down per label",
            "mnist,0,2.7000,0.1,1.0000,-,1 1,NaN NaN", "mnist,1,0.5000,0.8,0.0100,-,0.01 0.01,NaN NaN",
            "fashion-mnist,0,2.5000,0.1,10.0000,0.1000,10 10,0.1 0.1", "fashion-mnist,1,0.4000,0.8,1.000e-4,0.0010,1e-4 1e-4,1e-3 1e-3");

        var charts = Replot.Run("qcnn", dir);

        Assert.All(charts, c => Assert.Null(c.Failure));
        var entropy = Assert.Single(charts, c => c.Path.EndsWith("entropy.png", StringComparison.Ordinal));
        var loss = Assert.Single(charts, c => c.Path.EndsWith("loss.png", StringComparison.Ordinal));
        AssertPng(entropy.Path);
        AssertPng(loss.Path);
        Assert.Equal(["training loss (mnist)", "training loss (fashion-mnist)"], loss.Series.Select(s => s.Name));
        Assert.Equal([0.0, 1.0], loss.Series[0].X);
        Assert.Equal([2.5, 0.4], loss.Series[1].Y);
        // mnist's up|down was not computed ("-"): no series for it, rather than a line through NaN.
        Assert.Equal(["left|right (mnist)", "left|right (fashion-mnist)", "up|down (fashion-mnist)"], entropy.Series.Select(s => s.Name));
        Assert.Equal([0.0, -2.0], entropy.Series[0].Y.Select(v => Math.Round(v, 12)));
        Assert.Equal([1.0, -4.0], entropy.Series[1].Y.Select(v => Math.Round(v, 12)));
        Assert.Equal([-1.0, -3.0], entropy.Series[2].Y.Select(v => Math.Round(v, 12)));
    }

    [Fact]
    public void heads_redraws_one_picture_per_results_table_named_by_its_suffix()
    {
        string[] header = ["dataset,head,family,layer weights,compression,test accuracy,train seconds"];
        Write("results.csv", [.. header, "mnist,dense 256x16,dense,1000,1.0,0.8700,1", "mnist,TT r=2,TT,100,10.0,0.7600,1", "mnist,TT r=8,TT,10,100.0,0.7800,1"]);
        Write("results-8000.csv", [.. header, "mnist,dense 256x16,dense,1000,1.0,0.9100,1"]);

        var charts = Replot.Run("heads", dir);

        Assert.Equal([Path.Combine(dir, "accuracy-vs-params-8000.png"), Path.Combine(dir, "accuracy-vs-params.png")], charts.Select(c => c.Path));
        Assert.All(charts, c => { Assert.Null(c.Failure); AssertPng(c.Path); });
        Assert.Equal([0.91], Assert.Single(charts[0].Series).Y);
        Assert.Equal(["dense (mnist)", "TT (mnist)"], charts[1].Series.Select(s => s.Name));
        Assert.Equal([2.0, 1.0], charts[1].Series[1].X.Select(v => Math.Round(v, 12)));
        Assert.Equal([0.76, 0.78], charts[1].Series[1].Y);
    }

    [Fact]
    public void missing_files_columns_and_ragged_rows_are_refused_with_the_file_named()
    {
        var missing = Assert.Throws<StudyException>(() => Replot.Run("qcnn", dir));
        Assert.Contains("epochs.csv", missing.Message, StringComparison.Ordinal);

        Write("epochs.csv", "dataset,epoch,train loss", "mnist,0,2.7");
        var column = Assert.Throws<StudyException>(() => Replot.Run("qcnn", dir));
        Assert.Contains("mean EE left|right", column.Message, StringComparison.Ordinal);

        Write("results.csv", "dataset,family,layer weights,test accuracy", "mnist,TT,100,0.7", "mnist,TT,100");
        var ragged = Assert.Throws<StudyException>(() => Replot.Run("heads", dir));
        Assert.Contains("results.csv:3", ragged.Message, StringComparison.Ordinal);

        Assert.Throws<StudyException>(() => Replot.Run("tt-mlp", dir));
        Assert.Throws<StudyException>(() => Replot.Run("convac", Path.Combine(dir, "absent")));
    }
}

using System.Globalization;
using TnDsl.Data;
using TnDsl.Data.Tests;
using TnDsl.Studies;
using Xunit;

namespace TnDsl.Studies.Tests;

/// <summary>
/// Statistics from too few samples are refused: a test or a correlation cell holds no number when it has nothing to
/// stand on (one seed, two epochs' points), and holds a number when it has (the contrast shows the check can fail).
/// </summary>
public class TooFewSamplesTests
{
    static TooFewSamplesTests() => NativeLoader.EnsureLoaded();

    static bool IsNumber(string cell) => double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    static string Cell(ResultTable table, int row, string header) => table.Rows[row][table.Headers.ToList().IndexOf(header)];

    static IReadOnlyList<ResultTable> ConvAc(int seeds) =>
        ConvAcStudy.Run(new ConvAcSettings
        {
            Samples = 40, TestSamples = 20, Seeds = seeds, Tasks = ["local"],
            Train = new TrainSettings { Epochs = 1, BatchSize = 20, LearningRate = 0.01, Progress = false },
        });

    static ResultTable Verdicts(IReadOnlyList<ResultTable> tables) => tables.Single(t => t.Headers.Contains("permutation p"));

    [Fact]
    public void a_one_seed_convac_study_prints_no_test_and_no_separation_verdict()
    {
        var tables = ConvAc(1);
        var one = Verdicts(tables);
        foreach (var header in new[] { "Welch t (wide-bottom − wide-top)", "permutation p" })
            Assert.False(IsNumber(Cell(one, 0, header)), $"{header} with one seed: {Cell(one, 0, header)}");
        Assert.DoesNotContain(Cell(one, 0, "every seed apart"), new[] { "yes", "no" });
        // The title counts in words: one epoch, one seed.
        Assert.Contains("1 epoch, 1 seed;", tables[0].Title);

        var two = Verdicts(ConvAc(2));
        Assert.True(IsNumber(Cell(two, 0, "permutation p")), Cell(two, 0, "permutation p"));
        Assert.Contains(Cell(two, 0, "every seed apart"), new[] { "yes", "no" });
    }

    /// <summary>A tiny Fashion-MNIST-shaped data set: 4 × 4 images, two per label, labels 0..9.</summary>
    static string TinyFashion()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tndsl-studies-" + Guid.NewGuid().ToString("N"));
        var folder = Path.Combine(dir, Datasets.Folder(DatasetName.FashionMnist));
        Directory.CreateDirectory(folder);
        const int count = 20, side = 4;
        var random = new Random(7);
        var pixels = new byte[count * side * side];
        random.NextBytes(pixels);
        var images = IdxFiles.Gzip(IdxFiles.Bytes([count, side, side], pixels));
        var labels = IdxFiles.Gzip(IdxFiles.Bytes([count], Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray()));
        foreach (var split in new[] { "train", "t10k" })
        {
            File.WriteAllBytes(Path.Combine(folder, $"{split}-images-idx3-ubyte.gz"), images);
            File.WriteAllBytes(Path.Combine(folder, $"{split}-labels-idx1-ubyte.gz"), labels);
        }
        return dir;
    }

    static (ResultTable Summary, ResultTable Epochs) Qcnn(int epochs, string data) =>
        QcnnStudy.Run(new QcnnSettings
        {
            Datasets = [DatasetName.FashionMnist], Size = 2, Features = 2, TrainLimit = 20, TestLimit = 20, DataDirectory = data,
            Train = new TrainSettings { Epochs = epochs, BatchSize = 10, LearningRate = 1e-2, Progress = false },
        });

    [Fact]
    public void a_two_point_qcnn_prints_no_correlation_and_no_nan()
    {
        var data = TinyFashion();
        try
        {
            var (summary, epochs) = Qcnn(1, data);
            Assert.EndsWith("test images, 1 epoch)", summary.Title);
            Assert.Equal(2, epochs.Rows.Count);
            foreach (var header in summary.Headers.Where(h => h.StartsWith("corr(", StringComparison.Ordinal)))
                Assert.False(IsNumber(Cell(summary, 0, header)), $"{header} from 2 points: {Cell(summary, 0, header)}");
            Assert.DoesNotContain(epochs.Rows.SelectMany(r => r), c => c.Contains("NaN", StringComparison.Ordinal));

            var (three, _) = Qcnn(2, data);
            Assert.True(IsNumber(Cell(three, 0, "corr(EE l|r, loss)")), Cell(three, 0, "corr(EE l|r, loss)"));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void a_study_title_counts_the_images_used_not_the_limits_asked_for()
    {
        // The data set holds 20 images per split; asking for more uses those 20, and the title said 1000 / 500.
        var data = TinyFashion();
        try
        {
            var (summary, _) = QcnnStudy.Run(new QcnnSettings
            {
                Datasets = [DatasetName.FashionMnist], Size = 2, Features = 2, TrainLimit = 1000, TestLimit = 500, DataDirectory = data,
                Train = new TrainSettings { Epochs = 1, BatchSize = 10, LearningRate = 1e-2, Progress = false },
            });
            Assert.Contains("(20 train / 20 test images, 1 epoch)", summary.Title);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void image_counts_are_named_per_data_set_where_they_differ()
    {
        Assert.Equal("600 train / 200 test images", ResultTable.Images([("fashion-mnist", 600, 200), ("mnist", 600, 200)]));
        Assert.Equal("fashion-mnist 600 train / 200 test, mnist 500 train / 100 test images",
            ResultTable.Images([("fashion-mnist", 600, 200), ("mnist", 500, 100)]));
    }
}

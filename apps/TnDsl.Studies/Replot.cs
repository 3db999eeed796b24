namespace TnDsl.Studies;

/// <summary>
/// Redraws a study's pictures from the tables it recorded (<c>tn study replot STUDY DIR</c>), without training:
/// the CSVs are read back with <see cref="ResultTable.Load"/> and drawn by the same functions the study runs call.
/// </summary>
public static class Replot
{
    /// <summary>The studies that draw pictures.</summary>
    public static readonly string[] Studies = ["convac", "heads", "qcnn"];

    /// <summary>
    /// Redraws the pictures of <paramref name="study"/> in <paramref name="dir"/>: convac's <c>accuracy.png</c> from
    /// <c>runs.csv</c>, <c>networks.csv</c> and <c>verdicts.csv</c>; qcnn's <c>entropy.png</c> and <c>loss.png</c>
    /// from <c>epochs.csv</c>; heads' <c>accuracy-vs-paramsX.png</c> from each <c>resultsX.csv</c> (X: "" or a
    /// suffix such as "-8000"). A missing or malformed table is a <see cref="StudyException"/>.
    /// </summary>
    public static Chart[] Run(string study, string dir)
    {
        if (!Directory.Exists(dir))
            throw new StudyException($"{dir}: no such directory");
        ResultTable Table(string name) => ResultTable.Load(Path.Combine(dir, name + ".csv"));
        return study switch
        {
            "convac" => [ConvAcStudy.PlotAccuracy(Path.Combine(dir, "accuracy.png"), Table("runs"), Table("networks"), Table("verdicts"))],
            "qcnn" => QcnnStudy.PlotEpochs(dir, Table("epochs")),
            "heads" => Directory.GetFiles(dir, "results*.csv").Order(StringComparer.Ordinal)
                .Select(csv => HeadStudy.PlotAccuracy(
                    Path.Combine(dir, "accuracy-vs-params" + Path.GetFileNameWithoutExtension(csv)["results".Length..] + ".png"),
                    ResultTable.Load(csv)))
                .ToArray() is { Length: > 0 } charts ? charts : throw new StudyException($"{dir}: no results*.csv (heads' tables)"),
            _ => throw new StudyException($"no pictures to redraw for '{study}' (studies with pictures: {string.Join(", ", Studies)})"),
        };
    }
}

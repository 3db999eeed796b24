using System.Globalization;
using System.Text;
using Spectre.Console;
using TnDsl.Native;

namespace TnDsl.Studies;

/// <summary>A result table: printed with Spectre.Console, and written as Markdown and CSV next to plots.</summary>
public sealed class ResultTable(string title, params string[] headers)
{
    readonly List<string[]> rows = [];

    /// <summary>The table's title.</summary>
    public string Title => title;

    /// <summary>A count and its noun, for titles: "1 epoch", "3 epochs".</summary>
    public static string Count(long n, string word) => n == 1 ? $"1 {word}" : $"{n} {word}s";

    /// <summary>The images a study used, for titles: "600 train / 200 test images", or per data set where they differ
    /// ("fashion-mnist 600 train / 200 test, mnist 500 train / 100 test images"). The counts are those loaded, which
    /// are fewer than asked for where a data set holds fewer.</summary>
    public static string Images(IReadOnlyList<(string Dataset, long Train, long Test)> used) =>
        used.Select(u => (u.Train, u.Test)).Distinct().Count() <= 1
            ? $"{used.FirstOrDefault().Train} train / {used.FirstOrDefault().Test} test images"
            : string.Join(", ", used.Select(u => $"{u.Dataset} {u.Train} train / {u.Test} test")) + " images";
    /// <summary>The column headers.</summary>
    public IReadOnlyList<string> Headers => headers;
    /// <summary>The rows added so far.</summary>
    public IReadOnlyList<string[]> Rows => rows;

    /// <summary>Adds a row; numbers are written in invariant culture.</summary>
    public void Add(params object[] cells)
    {
        if (cells.Length != headers.Length)
            throw new ArgumentException($"{title}: a row needs {headers.Length} cells, got {cells.Length}");
        rows.Add(cells.Select(Format).ToArray());
    }

    static string Format(object cell) => cell switch
    {
        double d when double.IsNaN(d) => "-",
        double d when d != 0 && Math.Abs(d) < 1e-3 => d.ToString("0.###e+0", CultureInfo.InvariantCulture),
        double d => d.ToString(Math.Abs(d) >= 100 ? "0.0" : "0.0000", CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("0.0000", CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => cell.ToString() ?? "",
    };

    /// <summary>Prints the table to the console.</summary>
    public void Print()
    {
        if (Console.IsOutputRedirected)
            AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        var table = new Table().Title(Markup.Escape(title));
        foreach (var h in headers)
            table.AddColumn(new TableColumn(Markup.Escape(h)).RightAligned());
        foreach (var r in rows)
            table.AddRow(r.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
    }

    /// <summary>The table in GitHub Markdown.</summary>
    public string ToMarkdown()
    {
        static string E(string cell) => cell.Replace("|", "\\|");
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", headers.Select(E)) + " |");
        sb.AppendLine("|" + string.Concat(headers.Select(_ => "---:|")));
        foreach (var r in rows)
            sb.AppendLine("| " + string.Join(" | ", r.Select(E)) + " |");
        return sb.ToString();
    }

    /// <summary>The table as CSV (cells quoted where needed).</summary>
    public string ToCsv()
    {
        static string Q(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", headers.Select(Q)));
        foreach (var r in rows)
            sb.AppendLine(string.Join(",", r.Select(Q)));
        return sb.ToString();
    }

    /// <summary>The index of the column named <paramref name="header"/>; a <see cref="StudyException"/> naming the
    /// table and the columns it has when there is none.</summary>
    public int Column(string header)
    {
        int i = Array.IndexOf(headers, header);
        return i >= 0 ? i : throw new StudyException($"{title}: no column '{header}' (columns: {string.Join(", ", headers)})");
    }

    /// <summary>The number in column <paramref name="header"/> of <paramref name="row"/>, NaN where the cell holds
    /// none ("-", "n/a …": the cells <see cref="Add"/> writes for values not computed).</summary>
    public double Number(string[] row, string header) =>
        double.TryParse(row[Column(header)], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;

    /// <summary>
    /// Reads a table written by <see cref="Save"/> back from its CSV (the title is the file's path), so that plots can
    /// be redrawn from recorded results without training. A missing file, an empty file or a row of the wrong width
    /// is a <see cref="StudyException"/> with the file and line.
    /// </summary>
    public static ResultTable Load(string csvPath)
    {
        if (!File.Exists(csvPath))
            throw new StudyException($"{csvPath}: no such file");
        using var parser = new Microsoft.VisualBasic.FileIO.TextFieldParser(csvPath) { HasFieldsEnclosedInQuotes = true };
        parser.SetDelimiters(",");
        var header = parser.ReadFields() ?? throw new StudyException($"{csvPath}: empty file (no header line)");
        var table = new ResultTable(csvPath, header);
        while (!parser.EndOfData)
        {
            long line = parser.LineNumber;
            var cells = parser.ReadFields();
            if (cells is null || cells.Length == 0)
                continue;
            if (cells.Length != header.Length)
                throw new StudyException($"{csvPath}:{line}: {cells.Length} cells, the header has {header.Length}");
            table.rows.Add(cells);
        }
        return table;
    }

    /// <summary>
    /// Writes <c>NAME.md</c> and <c>NAME.csv</c> into <paramref name="directory"/>, each through
    /// <see cref="SafeFile.Replace"/>, so a study stopped part-way leaves the results that were there.
    /// </summary>
    public void Save(string directory, string name)
    {
        Directory.CreateDirectory(directory);
        SafeFile.ReplaceText(Path.Combine(directory, name + ".md"), $"**{title}**\n\n" + ToMarkdown());
        SafeFile.ReplaceText(Path.Combine(directory, name + ".csv"), ToCsv());
    }
}

/// <summary>Where the studies find the spec files of <c>examples/</c>.</summary>
public static class Specs
{
    /// <summary>The repository root (the folder holding TnDsl.sln above the current directory or this assembly), or null.</summary>
    public static string? RepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "TnDsl.sln")))
                    return dir.FullName;
        return null;
    }

    /// <summary>
    /// The path of a file under <c>examples/</c>: the copy shipped next to the program (the installed <c>tn</c> tool
    /// carries the examples), else the repository's.
    /// </summary>
    public static string Example(string relative)
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "examples", relative);
        if (File.Exists(shipped))
            return shipped;
        return RepositoryRoot() is { } root
            ? Path.Combine(root, "examples", relative)
            : throw new StudyException($"cannot find examples/{relative}: neither next to the program ({AppContext.BaseDirectory}) nor in a checkout (TnDsl.sln) above the current directory");
    }
}

using System.CommandLine;
using System.Diagnostics;
using TnDsl.Data;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn data setup [DIR]</c> installs MNIST and Fashion-MNIST by running <c>scripts/setup-data.sh</c>;
/// <c>tn data status</c> says where the data directory is and what is installed.
/// </summary>
public static class DataCommand
{
    /// <summary>The <c>data</c> verb with its sub-commands <c>setup</c> and <c>status</c>.</summary>
    public static Command Create()
    {
        var dir = new Argument<string?>("DIR")
        {
            Description = "where to install [default: the data directory that tn data status shows]",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var setup = new Command("setup", "install MNIST and Fashion-MNIST (runs scripts/setup-data.sh)") { dir };
        Cli.SetAction(setup, parse => Setup(parse.GetValue(dir)));
        var status = new Command("status", "say where the data directory is and what is installed (exit 1 when something is missing)");
        Cli.SetAction(status, _ => Status());
        return new Command("data", "install (setup) or list (status) the MNIST and Fashion-MNIST data") { setup, status };
    }

    static string? Script()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var script = Path.Combine(dir.FullName, "scripts", "setup-data.sh");
                if (File.Exists(script))
                    return script;
            }
        return null;
    }

    static int Setup(string? dir)
    {
        var script = Script();
        if (script is null)
        {
            Console.Error.WriteLine("tn data: cannot find scripts/setup-data.sh above the current directory; run this from the repository");
            return 1;
        }
        var info = new ProcessStartInfo("bash") { UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(dir ?? Datasets.DataDirectory());
        using var process = Process.Start(info)!;
        process.WaitForExit();
        return process.ExitCode == 0 ? 0 : 1;
    }

    static int Status()
    {
        var dir = Datasets.DataDirectory();
        Console.WriteLine($"data directory: {dir}");
        foreach (var name in Enum.GetValues<DatasetName>())
            foreach (var split in Enum.GetValues<Split>())
                Console.WriteLine($"  {Datasets.Folder(name),-14} {split.ToString().ToLowerInvariant(),-5} {(Datasets.IsInstalled(name, split, dir) ? "installed" : "missing")}");
        bool all = Enum.GetValues<DatasetName>().All(n => Enum.GetValues<Split>().All(s => Datasets.IsInstalled(n, s, dir)));
        if (!all)
            Console.WriteLine($"install with {Datasets.SetupCommand}");
        return all ? 0 : 1;
    }
}

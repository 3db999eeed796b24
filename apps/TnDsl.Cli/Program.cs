namespace TnDsl.Cli;

/// <summary>Entry point of the <c>tn</c> command: the command line goes to <see cref="Cli"/>.</summary>
public static class Program
{
    /// <summary>Runs the command line. Exit codes: 0 success, 1 errors in the input, 2 usage errors.</summary>
    public static int Main(string[] args) => Cli.Run(args, Console.Out, Console.Error);
}

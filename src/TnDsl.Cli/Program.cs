namespace TnDsl.Cli;

/// <summary>Entry point of the <c>tn</c> command.</summary>
public static class Program
{
    /// <summary>Runs the command line.</summary>
    // TEMPORARY (plan branch): a minimal dispatch of `tn plan` for manual testing; the lead's Program.cs replaces it.
    public static int Main(string[] args) =>
        args.Length > 0 && args[0] == "plan" ? Commands.PlanCommand.Run(args[1..]) : 0;
}

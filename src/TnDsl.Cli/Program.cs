namespace TnDsl.Cli;

/// <summary>Entry point of the <c>tn</c> command.</summary>
public static class Program
{
    /// <summary>Runs the command line.</summary>
    public static int Main(string[] args) => 0;
}

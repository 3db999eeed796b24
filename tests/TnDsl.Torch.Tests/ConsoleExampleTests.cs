using System.Diagnostics;
using Xunit;

namespace TnDsl.Torch.Tests;

/// The C# console example (examples/console), an application on the backend library alone, run as its own
/// process: it builds and runs the module of a .tn file, and reports a bad file with positioned diagnostics.
public class ConsoleExampleTests
{
    /// The example's program, built by this project's build (a reference that does not link it) in the same
    /// configuration and target framework as the tests.
    static string Program()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(Repo.Root, "examples", "console", "bin", output.Parent!.Name, output.Name, "ConsoleExample.dll");
        Assert.True(File.Exists(path), $"{path} is not built");
        return path;
    }

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repo.Root,
        };
        start.ArgumentList.Add(Program());
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = "1";
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the console example did not finish within 3 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void The_console_example_builds_and_runs_the_module_of_a_tn_file()
    {
        var (code, stdout, stderr) = Run(Path.Combine("examples", "mera-classifier.tn"));
        Assert.True(code == 0, stderr);
        // 8 trig features per sample in, one of 10 labels out, for the batch of 4 the example draws.
        Assert.Matches(@"input\s+x \[4, 8\]", stdout);
        Assert.Matches(@"output\s+\[4, 10\] \(batch, label\)", stdout);
        var norm = System.Text.RegularExpressions.Regex.Match(stdout, @"gradient norm (\S+)");
        Assert.True(norm.Success, stdout);
        Assert.InRange(double.Parse(norm.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1e-6, 1e6);
    }

    [Fact]
    public void The_console_example_reports_a_bad_file_with_positioned_diagnostics_and_exit_code_1()
    {
        var file = Path.Combine(Path.GetTempPath(), $"tndsl-console-{Guid.NewGuid():N}.tn");
        File.WriteAllText(file, "network bad {\n  index a: 2\n  weight W: (a, b)\n  output (a)\n}\n");
        try
        {
            var (code, _, stderr) = Run(file);
            Assert.Equal(1, code);
            // `b` at line 3, column 17 is not declared.
            Assert.Matches(@"\(3,17\): error TN0109", stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_console_example_reports_a_network_too_large_for_memory_in_one_message_and_exit_code_1()
    {
        // An MPS of 40 sites has 2^40 outputs: the memory guard refuses it before anything is allocated. The example
        // caught only TnException and ended with an unhandled exception, its stack trace and exit code 134.
        var (code, _, stderr) = Run(Path.Combine("examples", "mps.tn"), "n=40");
        Assert.True(code == 1, stderr);
        Assert.Contains("the forward pass needs at least", stderr);
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}

using TnDsl.Api;
using Xunit;
using static TnDsl.Torch.Tests.Repo;

namespace TnDsl.Torch.Tests;

/// Session 18: a C# caller's overrides are reported as its own (<c>overrides(1,1): … override L=x: …</c>), never as a
/// <c>--set</c> typed on a command line it never used; <c>tn</c>'s callers that pass the command line keep
/// <c>command line(1,1): … --set L=x: …</c>, and a job opened with a bad override names the job's. Each mistake is
/// one diagnostic, asserted by file, code, message and hints.
public class OverrideOriginTests
{
    static readonly string Mera = Example("layers/mera.tn");

    /// The one error of a refusal, as (file, code, message, hints joined).
    static (string File, string Code, string Message, string Hints) Error(TnException e)
    {
        var d = Assert.Single(e.Diagnostics, d => d.IsError);
        return (d.File, d.Code, d.Message, string.Join(" | ", d.Hints));
    }

    static (string, string, string, string) Refused(Action build) => Error(Assert.Throws<TnException>(build));

    [Fact]
    public void Layers_FromSpec_names_its_overrides_argument_and_never_a_flag()
    {
        Assert.Equal(("overrides", "TN0102", "override L=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", ""),
            Refused(() => Layers.FromSpec(Mera, new { L = "x" })));
        Assert.Equal(("overrides", "TN0103", "override Lenght=3: `mera_layer` has no parameter `Lenght`", "its parameters are L, d, chi, out, noise"),
            Refused(() => Layers.FromSpec(Mera, new { Lenght = 3 })));
        Assert.Equal(("overrides", "TN0103", "override l=3: `mera_layer` has no parameter `l`", "did you mean `L`?"),
            Refused(() => Layers.FromSpec(Mera, new { l = 3 })));
        Assert.Equal(("overrides", "TN0102", "override L=2.5: parameter `L` is an int, but the value given is a float", ""),
            Refused(() => Layers.FromSpec(Mera, new { L = 2.5 })));
        // Out of range, and a value that breaks a family: reported in the file, where the rule is, as for `tn`.
        Assert.Equal((Mera, "TN0115", "a MERA needs at least one level", ""), Refused(() => Layers.FromSpec(Mera, new { L = 0 })));
        Assert.Equal((Mera, "TN0107", "the dimension of `s[3, 0]` evaluates to 0; it must be at least 1", ""),
            Refused(() => Layers.FromSpec(Mera, new { @out = 0 })));
        // chi sizes two declarations by two expressions: one error at each, none at the overrides.
        Assert.All(Assert.Throws<TnException>(() => Layers.FromSpec(Mera, new { chi = 0 })).Diagnostics,
            d => Assert.Equal((Mera, "TN0107", ""), (d.File, d.Code, string.Join(" | ", d.Hints))));
        var e = Assert.Throws<TnException>(() => Layers.FromSpec(Mera, new { l = 3 }));
        Assert.DoesNotContain("--set", e.Message);
        Assert.DoesNotContain("command line", e.Message);
    }

    [Fact]
    public void Layers_Check_keeps_the_command_line_when_tn_layer_says_so()
    {
        Assert.Equal(("command line", "TN0103", "--set l=3: `mera_layer` has no parameter `l`", "did you mean `L`?"),
            Refused(() => Layers.Check(Mera, Set(("l", 3)), null, OverrideOrigin.CommandLine)));
        Assert.Equal(("overrides", "TN0103", "override l=3: `mera_layer` has no parameter `l`", "did you mean `L`?"),
            Refused(() => Layers.Check(Mera, Set(("l", 3)))));
    }

    [Fact]
    public void A_parameter_with_no_value_hints_at_the_overrides_not_at_a_flag()
    {
        var dir = Directory.CreateTempSubdirectory("tndsl-origin-");
        try
        {
            var file = Path.Combine(dir.FullName, "need.tn");
            File.WriteAllText(file, "network need(n: int) {\n  index i: n\n  weight A: (i)\n}\n");
            Assert.Equal((file, "TN0104", "parameter `n` has no default and no value was given", "give `n` a value in the overrides"),
                Refused(() => NetworkModules.FromFile(file)));
            // A value given but refused is that one mistake, not also "no value was given".
            Assert.Equal(("overrides", "TN0102", "override n=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", ""),
                Refused(() => NetworkModules.FromFile(file, Set(("n", "x")))));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void NetworkModules_and_Frontend_name_the_overrides()
    {
        Assert.Equal(("overrides", "TN0102", "override D=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", ""),
            Refused(() => NetworkModules.FromFile(Example("grid.tn"), Set(("D", "x")))));
        Assert.Equal(("overrides", "TN0103", "override Lenght=3: `grid` has no parameter `Lenght`", "its parameters are L, D"),
            Refused(() => Frontend.Load(Example("grid.tn"), Set(("Lenght", 3)), null)));
    }

    [Fact]
    public void A_contraction_job_names_the_overrides_of_whoever_made_it_and_an_opened_job_its_own()
    {
        var grid = Example("grid.tn");
        Assert.Equal(("overrides", "TN0103", "override Lenght=3: `grid` has no parameter `Lenght`", "its parameters are L, D"),
            Refused(() => ContractionJobs.Create(grid, new ContractionJobs.Options { Overrides = Set(("Lenght", 3)) })));
        Assert.Equal(("command line", "TN0103", "--set Lenght=3: `grid` has no parameter `Lenght`", "its parameters are L, D"),
            Refused(() => ContractionJobs.Create(grid, new ContractionJobs.Options
            {
                Overrides = Set(("Lenght", 3)),
                OverrideOrigin = OverrideOrigin.CommandLine,
            })));
        // A job whose overrides do not compile (made by hand here) is refused when opened, naming the job's overrides.
        var job = new ContractionJob { File = "grid.tn", Text = File.ReadAllText(grid), Overrides = Set(("L", 2.5)), Path = [] };
        Assert.Equal(("job overrides", "TN0102", "override L=2.5: parameter `L` is an int, but the value given is a float", ""),
            Refused(() => ContractionJobs.Open(job)));
    }
}

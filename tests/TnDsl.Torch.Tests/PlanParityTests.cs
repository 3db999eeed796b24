using System.Numerics;
using System.Text.Json;
using TnDsl.Api;
using Xunit;

namespace TnDsl.Torch.Tests;

/// <summary>
/// One planner: for every example file, the plan `tn plan` prints (the optimizer chosen, flops, steps) is the plan
/// that `tn run` and `tn emit` (NetworkModules), `tn layer` and Layers.FromSpec execute, for the same file and options.
/// </summary>
public class PlanParityTests
{
    static PlanParityTests() => NativeLoader.EnsureLoaded();

    public static TheoryData<string, string> Examples()
    {
        var data = new TheoryData<string, string>();
        var examples = Path.Combine(Repo.Root, "examples");
        foreach (var f in Directory.GetFiles(examples, "*.tn").Concat(Directory.GetFiles(Path.Combine(examples, "layers"), "*.tn")).Order())
        {
            var name = Path.GetRelativePath(examples, f).Replace('\\', '/');
            foreach (var optimizer in new[] { "auto", "greedy", "bond-greedy" })
                data.Add(name, optimizer);
        }
        return data;
    }

    static BigInteger Exact(JsonElement e) =>
        BigInteger.Parse(e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()); // beyond 2^53: a string

    [Theory]
    [MemberData(nameof(Examples))]
    public void The_plan_tn_plan_prints_is_the_plan_every_backend_entry_executes(string file, string optimizer)
    {
        var overrides = Repo.Small(file);
        var path = Repo.Example(file);

        // `tn plan FILE --set … --optimizer O --json`: what PlanCommand prints.
        var net = Frontend.Load(path, overrides, null);
        var printed = PlanApi.planTnNetwork(net, path, overrides, null, optimizer, [], PlanSettingsModule.defaults, true, false, []);
        Assert.Equal(0, printed.ExitCode);
        using var json = JsonDocument.Parse(printed.Output);
        var root = json.RootElement;
        var chosen = root.GetProperty("chosen").GetString();
        var flops = Exact(root.GetProperty("flops"));
        var steps = root.GetProperty("pairwise_path").EnumerateArray()
            .Select(s => s.EnumerateArray().Select(e => e.GetInt32()).ToArray())
            .Select(s => (s[0], s[1])).ToArray();
        Assert.Equal(optimizer, root.GetProperty("optimizer").GetString());
        if (optimizer != "auto")
            Assert.Equal(optimizer, chosen);
        // A network of n tensors takes n - 1 pairwise steps.
        Assert.Equal(net.Tensors.Length - 1, steps.Length);

        void Same(PlanView plan, IReadOnlyList<PlanStep> executed, string who)
        {
            Assert.True(optimizer == plan.Optimizer, $"{who}: optimizer {plan.Optimizer}");
            Assert.True(chosen == plan.Chosen, $"{who}: chose {plan.Chosen}, tn plan chose {chosen}");
            Assert.True(flops == plan.Flops, $"{who}: {plan.Flops} flops, tn plan {flops}");
            using var own = JsonDocument.Parse(plan.Json());
            Assert.Equal(root.GetProperty("ssa_path").GetRawText(), own.RootElement.GetProperty("ssa_path").GetRawText());
            Assert.Equal(steps, plan.Pairs.Select(p => (p.Item1, p.Item2)));
            // The module executes the plan's tree: the same two operands at each step, and each step's result keeps
            // the plan's legs. Which of the two is the left one, and so the order of the result's legs, is the
            // module's layout choice for a dense plan (StepLayouts, fewer copies); a lowered plan keeps the plan's.
            static (int, int) Unordered((int A, int B) p) => (Math.Min(p.A, p.B), Math.Max(p.A, p.B));
            Assert.Equal(steps.Select(Unordered), executed.Select(s => Unordered((s.Left, s.Right))));
            bool dense = executed.All(s => s.Lowering is null);
            for (int k = 0; k < executed.Count; k++)
            {
                Assert.Equal(plan.Steps[k].Kept.Order(), executed[k].Contraction.Result.Order());
                if (!dense)
                    Assert.Equal(plan.Steps[k].Kept, executed[k].Contraction.Result);
            }
        }

        // `tn run` and `tn emit` build through NetworkModules with the nominal batch.
        using (var m = NetworkModules.FromFile(path, overrides, new NetworkBuildOptions { Optimizer = optimizer }))
            Same(m.ExecutionPlan, m.Plan, "tn run / tn emit");

        // `tn layer` and Layers.FromSpec, for the examples that are layers.
        if (file.StartsWith("layers/", StringComparison.Ordinal))
        {
            using var layer = Layers.FromSpec(path, overrides, new LayerOptions { Optimizer = optimizer, Calibrate = false });
            Same(layer.Network.ExecutionPlan, layer.Network.Plan, "Layers.FromSpec / tn layer");
        }
    }

    [Fact]
    public void Auto_runs_the_born_machine_at_or_below_the_hand_sweeps_flops()
    {
        // The sweep an expert writes at the file's defaults (784 sites, chi 30, batch 1000): x[0]·A[0], then
        // (env·A[i])·x[i] along the chain. Weights are tensors 0..n-1, inputs n..2n-1; ids n, n+1, … name results.
        const int sites = 784;
        var net = Frontend.Load(Repo.Example("born-machine.tn"), null, null);
        var byId = new List<(int, int)> { (sites, 0) };
        int env = 2 * sites;
        for (int i = 1; i < sites; i++)
        {
            byId.Add((env, i));
            byId.Add((env + 1, sites + i));
            env += 2;
        }
        var ids = Enumerable.Range(0, 2 * sites).ToList();
        var linear = new List<(int, int)>();
        int next = 2 * sites;
        foreach (var (a, b) in byId)
        {
            linear.Add((ids.IndexOf(a), ids.IndexOf(b)));
            ids.Remove(a);
            ids.Remove(b);
            ids.Add(next++);
        }
        var sweep = NetworkAdapter.FollowPath(net, linear);
        var plan = NetworkAdapter.Plan(net, "auto", null);
        Assert.True(plan.Flops <= sweep.Flops, $"auto ({plan.Chosen}) costs {plan.Flops} flops, the hand sweep {sweep.Flops}");
    }

    [Fact]
    public void An_unknown_optimizer_is_a_coded_error_and_no_optimizer_falls_back()
    {
        var net = Frontend.Load(Repo.Example("mps.tn"), [new("n", "4")], null);
        var e = Assert.Throws<TnException>(() => NetworkAdapter.Plan(net, "nope", null));
        Assert.Contains(e.Diagnostics, d => d.Code == "TN0300");
        // Every registered optimizer plans every example without an internal error (TN0311, TN0313).
        foreach (var optimizer in Planner.OptimizerNames)
        {
            var plan = NetworkAdapter.Plan(net, optimizer, null);
            Assert.Equal(optimizer, plan.Optimizer);
            Assert.DoesNotContain(plan.Diagnostics, d => d.Code is "TN0311" or "TN0313");
        }
    }
}

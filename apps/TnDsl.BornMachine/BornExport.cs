using System.Text;
using TnDsl.Api;
using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>
/// Exports a trained MPS as a fixed <c>.tn</c> network (one explicitly sized bond index per bond) and a weights file in
/// TorchSharp's state-dict format keyed by the module's parameter names (<c>A.0</c> … <c>A.{n-1}</c>), and loads the
/// pair back as a <see cref="NetworkModule"/> whose output is ψ(v) for a batch of images (pixel order).
/// </summary>
public static class BornExport
{
    /// <summary>The text of a .tn network with the MPS's exact bond dimensions; site k reads pixel <paramref name="sitePixels"/>[k].</summary>
    public static string ToTn(Mps mps, int[] sitePixels, string name = "born_machine_trained")
    {
        int n = mps.Length;
        var bonds = mps.Bonds;
        var phys = mps.Physical;
        var w = new StringBuilder();
        w.AppendLine($"// A trained MPS Born machine exported by `tn train born-machine`: {n} sites, bond dimensions as trained");
        w.AppendLine($"// (largest {bonds.Max()}). Load with the weights file written beside it (state dict keyed A.0 … A.{n - 1}).");
        w.AppendLine($"network {name} {{");
        w.AppendLine("  index batch: dynamic(1000)");
        if (phys.Distinct().Count() == 1)
            w.AppendLine($"  index p[i]: {phys[0]} for i in 0..{n - 1}");
        else
            for (int k = 0; k < n; k++)
                w.AppendLine($"  index p[{sitePixels[k]}]: {phys[k]}");
        for (int k = 1; k < n; k++)
            w.AppendLine($"  index b[{k}]: {bonds[k]}");
        var embed = phys.Distinct().Count() == 1 ? $" embed onehot({phys[0]})" : null;
        if (embed is not null)
            w.AppendLine($"  input x[i]: (batch, p[i]) for i in 0..{n - 1}{embed}");
        else
            for (int i = 0; i < n; i++)
                w.AppendLine($"  input x[{i}]: (batch, p[{i}]) embed onehot({phys[Array.IndexOf(sitePixels, i)]})");
        for (int k = 0; k < n; k++)
        {
            var legs = new List<string>();
            if (k > 0) legs.Add($"b[{k}]");
            legs.Add($"p[{sitePixels[k]}]");
            if (k < n - 1) legs.Add($"b[{k + 1}]");
            w.AppendLine($"  weight A[{k}]: ({string.Join(", ", legs)})");
        }
        w.AppendLine("  output (batch)");
        w.AppendLine("}");
        return w.ToString();
    }

    /// <summary>
    /// Writes <paramref name="tnPath"/> and <paramref name="weightsPath"/> (see the type's summary), each through
    /// <see cref="SafeFile.Replace"/>, so a write stopped part-way leaves the file that was there.
    /// </summary>
    public static void Save(Mps mps, int[] sitePixels, string tnPath, string weightsPath)
    {
        var text = ToTn(mps, sitePixels);
        SafeFile.ReplaceText(tnPath, text);
        // Built only to write its parameters under their names: the order it would contract in does not matter, so
        // greedy's plan serves (auto's search took seconds and over 100 MB at 784 sites).
        using var module = Build(tnPath, text, "greedy");
        using (no_grad())
        {
            for (int k = 0; k < mps.Length; k++)
            {
                var p = module.get_parameter($"A.{k}")!;
                using var values = mps[k].reshape(p.shape);
                p.copy_(values);
            }
        }
        SafeFile.Replace(weightsPath, temp => module.save(temp));
    }

    /// <summary>Loads an exported network and its weights as a float64 module.</summary>
    public static NetworkModule Load(string tnPath, string weightsPath)
    {
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{weightsPath}: no such weights file");
        var module = Build(tnPath, File.ReadAllText(tnPath));
        module.load(weightsPath);
        return module;
    }

    /// The module of an exported network, contracted along the planner's own path (auto finds the sweep along the
    /// chain: each weight meets its input and the environment in turn).
    static NetworkModule Build(string file, string text, string optimizer = "auto")
    {
        NativeLoader.EnsureLoaded();
        return NetworkModules.FromText(file, text, null, new NetworkBuildOptions
        {
            Module = new NetworkModuleOptions { DType = ScalarType.Float64 },
            Optimizer = optimizer,
        });
    }
}

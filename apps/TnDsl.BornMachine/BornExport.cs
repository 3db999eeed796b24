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
    /// <summary>The header line that records the SHA-256 of the weights file written with the <c>.tn</c>.</summary>
    public const string WeightsLine = "// weights SHA-256: ";

    /// <summary>
    /// The text of a .tn network with the MPS's exact bond dimensions; site k reads pixel <paramref name="sitePixels"/>[k].
    /// With <paramref name="weightsSha256"/> its header records the weights file's SHA-256 (<see cref="WeightsLine"/>).
    /// </summary>
    public static string ToTn(Mps mps, int[] sitePixels, string name = "born_machine_trained", string? weightsSha256 = null)
    {
        int n = mps.Length;
        var bonds = mps.Bonds;
        var phys = mps.Physical;
        var w = new StringBuilder();
        w.AppendLine($"// A trained MPS Born machine exported by `tn train born-machine`: {n} sites, bond dimensions as trained");
        w.AppendLine($"// (largest {bonds.Max()}). Load with the weights file written beside it (state dict keyed A.0 … A.{n - 1}).");
        if (weightsSha256 is not null)
            w.AppendLine(WeightsLine + weightsSha256);
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
    /// Writes <paramref name="weightsPath"/> and then <paramref name="tnPath"/> (see the type's summary), each through
    /// <see cref="SafeFile.Replace"/>, so a write stopped part-way leaves the file that was there; the <c>.tn</c>
    /// records the weights' SHA-256, so that <see cref="Load"/> refuses weights written by another export (or a
    /// <c>.tn</c> left from the export before, when a crash fell between the two writes).
    /// </summary>
    public static void Save(Mps mps, int[] sitePixels, string tnPath, string weightsPath)
    {
        // Built only to write its parameters under their names: the order it would contract in does not matter, so
        // greedy's plan serves (auto's search took seconds and over 100 MB at 784 sites).
        using var module = Build(tnPath, ToTn(mps, sitePixels), "greedy");
        using (no_grad())
        {
            for (int k = 0; k < mps.Length; k++)
            {
                var p = module.get_parameter($"A.{k}")!;
                using var values = mps[k].reshape(p.shape);
                p.copy_(values);
            }
        }
        string? sha = null;
        SafeFile.Replace(weightsPath, temp =>
        {
            module.save(temp);
            sha = StateDictFile.Sha256(temp);
        });
        SafeFile.ReplaceText(tnPath, ToTn(mps, sitePixels, weightsSha256: sha));
    }

    /// <summary>
    /// Loads an exported network and its weights as a float64 module. Weights that do not belong to the network are
    /// refused with an <see cref="InvalidDataException"/> before anything is loaded: a missing, extra or differently
    /// shaped parameter (named with the <c>.tn</c> line that declares it and both shapes), a file that is not a state
    /// dict or is truncated, or weights whose SHA-256 differs from the one the <c>.tn</c>'s header records.
    /// </summary>
    public static NetworkModule Load(string tnPath, string weightsPath)
    {
        if (!File.Exists(tnPath))
            throw new FileNotFoundException($"{tnPath}: no such network file");
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{weightsPath}: no such weights file");
        var text = File.ReadAllText(tnPath);
        var module = Build(tnPath, text);
        try
        {
            Check(module, tnPath, text, weightsPath);
            module.load(weightsPath);
        }
        catch
        {
            module.Dispose();
            throw;
        }
        return module;
    }

    /// Refuses weights that are not the network's (see Load): the shapes first, which say what differs, then the
    /// fingerprint, which catches weights of the same shapes from another run and any damage to the values.
    static void Check(NetworkModule module, string tnPath, string text, string weightsPath)
    {
        var lines = text.Split('\n');
        var entries = StateDictFile.Read(weightsPath).ToDictionary(e => e.Name);
        string Shape(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
        foreach (var name in module.ParameterNames)
        {
            var expected = module.get_parameter(name)!.shape;
            // The .tn line that declares the parameter (A.3 is `weight A[3]: …`), for a position.
            var dot = name.LastIndexOf('.');
            var declared = dot < 0 ? name : $"{name[..dot]}[{name[(dot + 1)..]}]";
            int line = Array.FindIndex(lines, l => l.TrimStart().StartsWith($"weight {declared}:", StringComparison.Ordinal));
            var at = line < 0 ? tnPath : $"{tnPath}({line + 1},{lines[line].Length - lines[line].TrimStart().Length + 1})";
            if (!entries.Remove(name, out var entry))
                throw new InvalidDataException($"{at}: {declared} {Shape(expected)} has no tensor {name} in {weightsPath}; the weights belong to another network");
            var dtype = module.get_parameter(name)!.dtype;
            if (entry.DType != dtype)
                throw new InvalidDataException(
                    $"{at}: {declared} is {dtype.ToString().ToLowerInvariant()} but {weightsPath} holds {name} as {entry.DType.ToString().ToLowerInvariant()}; the weights belong to another network");
            if (!entry.Shape.SequenceEqual(expected))
                throw new InvalidDataException(
                    $"{at}: {declared} is declared {Shape(expected)} but {weightsPath} holds {name} as {Shape(entry.Shape)}; " +
                    "the two files come from different exports: use the model.tn and model.weights written together");
        }
        if (entries.Count > 0)
            throw new InvalidDataException($"{weightsPath}: holds {string.Join(", ", entries.Keys.Take(3))}{(entries.Count > 3 ? ", …" : "")}, which {tnPath} does not declare; the weights belong to another network");
        var recorded = lines.Select((l, k) => (Line: l.TrimEnd('\r'), At: k + 1)).FirstOrDefault(x => x.Line.StartsWith(WeightsLine, StringComparison.Ordinal));
        if (recorded.Line is null)
            return; // an export from before the fingerprint, or a .tn written by hand
        var want = recorded.Line[WeightsLine.Length..].Trim();
        var got = StateDictFile.Sha256(weightsPath);
        if (!string.Equals(want, got, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"{tnPath}({recorded.At},1): the weights' SHA-256 is recorded as {want[..Math.Min(12, want.Length)]}…, but {weightsPath} has {got[..12]}…: " +
                "the shapes fit, but the values were written by another export or have changed since; use the model.tn and model.weights written together");
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

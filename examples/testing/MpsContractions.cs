using TnDsl.Testing.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace MpsSpecTests;

/// <summary>
/// Hand-written TorchSharp contractions of the open-boundary MPS in examples/mps.tn:
/// A[0]: (p[0], b[1]), A[i]: (b[i], p[i], b[i+1]), A[n-1]: (b[n-1], p[n-1]), output (p[0..n-1]).
/// </summary>
public static class MpsContractions
{
    /// <summary>Sweeps left to right, contracting the running tensor's last (bond) axis with the next core's first.</summary>
    public static Tensor Correct(SpecTensors t)
    {
        var a = t.Family("A");
        int n = a.Count;
        var acc = a[0];
        for (int i = 1; i < n - 1; i++)
            acc = tensordot(acc, a[i], [acc.dim() - 1], [0]);
        return tensordot(acc, a[n - 1], [acc.dim() - 1], [0]);
    }

    /// <summary>Bug: the middle cores are read with their two bonds swapped, (b[i+1], p[i], b[i]). The shapes still
    /// fit whenever the bonds are equal, so only the values are wrong.</summary>
    public static Tensor TransposedBond(SpecTensors t)
    {
        var a = t.Family("A");
        int n = a.Count;
        var acc = a[0];
        for (int i = 1; i < n - 1; i++)
            acc = tensordot(acc, a[i].permute(2, 1, 0), [acc.dim() - 1], [0]);
        return tensordot(acc, a[n - 1], [acc.dim() - 1], [0]);
    }

    /// <summary>Bug: the loop over middle sites stops one site early, so site n-2 is skipped (the last core's bond
    /// still fits because every bond has the same dimension).</summary>
    public static Tensor OffByOneSite(SpecTensors t)
    {
        var a = t.Family("A");
        int n = a.Count;
        var acc = a[0];
        for (int i = 1; i < n - 2; i++)
            acc = tensordot(acc, a[i], [acc.dim() - 1], [0]);
        return tensordot(acc, a[n - 1], [acc.dim() - 1], [0]);
    }
}

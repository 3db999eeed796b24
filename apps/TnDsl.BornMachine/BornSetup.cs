using TnDsl.Api;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>Reads the network of a Born machine from a .tn file and the images into tensors.</summary>
public static class BornSetup
{
    /// <summary>
    /// Compiles <paramref name="file"/> with <paramref name="overrides"/> and reads it as an MPS. When the network
    /// declares a parameter <c>n</c> that the overrides leave alone and its value differs from
    /// <paramref name="pixels"/>, it is set to <paramref name="pixels"/> (so <c>born-machine.tn</c> fits any image
    /// size). Throws <see cref="TnException"/> with the diagnostics, or <see cref="MpsShapeException"/>; a mistake in
    /// the overrides is named as <paramref name="origin"/> gives them (null: the API's). Diagnostics name the file
    /// <paramref name="shown"/> (null: <paramref name="file"/>), as a shipped example is named as the user wrote it.
    /// </summary>
    public static MpsLayout LoadLayout(string file, IReadOnlyList<KeyValuePair<string, string>> overrides, int pixels, string? network = null,
                                       OverrideOrigin? origin = null, string? shown = null)
    {
        shown ??= file;
        if (!File.Exists(file))
            throw new FileNotFoundException(Directory.Exists(file) ? $"{shown}: it is a folder, not a .tn file" : $"{shown}: no such .tn file");
        origin ??= OverrideOrigin.Api;
        var net = Frontend.LoadAs(file, shown, overrides, network, origin);
        bool setsN = overrides.Any(o => o.Key == "n");
        var n = net.Parameters.FirstOrDefault(p => p.Key == "n");
        if (!setsN && n.Key is not null && n.Value != pixels.ToString())
            net = Frontend.LoadAs(file, shown, [.. overrides, new("n", pixels.ToString())], network, origin);
        var layout = MpsLayout.FromSpec(NetworkAdapter.FromFlat(net));
        if (layout.Length != pixels)
            throw new MpsShapeException($"{shown}: the MPS has {layout.Length} sites but the images have {pixels} pixels");
        return layout;
    }

    /// <summary>
    /// The images as an (N, pixels) tensor of bytes (uint8) in pixel order; checks that every value fits the MPS's
    /// physical dimensions. Everything that takes images takes bytes or int64.
    /// </summary>
    public static Tensor Images(ImageSet set, MpsLayout layout)
    {
        NativeLoader.EnsureLoaded();
        int smallest = layout.Sites.Min(s => s.Physical);
        if (set.Levels > smallest)
            throw new MpsShapeException($"the images hold pixel values up to {set.Levels - 1}, but the MPS's physical dimension is {smallest}");
        // Copied into libtorch's memory: torch.tensor(byte[]) would keep a pinned managed copy alive beside it.
        var images = empty(set.Count, set.Size, ScalarType.Byte);
        images.data<byte>().CopyFrom(set.Pixels);
        return images;
    }
}

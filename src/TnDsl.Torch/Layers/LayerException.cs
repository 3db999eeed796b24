namespace TnDsl.Torch;

/// <summary>A spec that cannot become a layer (errors in the file, no batch leg, planning failed): the message says why.</summary>
public sealed class LayerException(string message) : Exception(message);

using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>
/// The weight network of a layer: its spec with the input tensors removed and their non-batch legs opened, so the
/// open legs are (features…, outputs…) and the network is the tensorised weight matrix W that the layer applies.
/// Min-cut analysis runs on it: the declared cut <c>features_outputs</c> bounds the rank of W. Built by the core
/// (<see cref="NetworkView.WeightNetwork(string)"/>).
/// </summary>
public static class WeightNetwork
{
    /// <summary>The name of the cut between the feature legs and the output legs.</summary>
    public const string FeatureOutputCut = "features_outputs";

    /// <summary>Builds the weight network of a layer-shaped network (inputs carrying a dynamic batch leg).</summary>
    public static NetworkView Of(NetworkView net) => net.WeightNetwork(FeatureOutputCut);
}

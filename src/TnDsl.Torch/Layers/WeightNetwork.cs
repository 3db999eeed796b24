using Microsoft.FSharp.Collections;

namespace TnDsl.Torch;

/// <summary>
/// The weight network of a layer: its spec with the input tensors removed and their non-batch legs opened, so the
/// open legs are (features…, outputs…) and the network is the tensorised weight matrix W that the layer applies.
/// Min-cut analysis runs on it: the declared cut <c>features_outputs</c> bounds the rank of W.
/// </summary>
public static class WeightNetwork
{
    /// <summary>The name of the cut between the feature legs and the output legs.</summary>
    public const string FeatureOutputCut = "features_outputs";

    /// <summary>Builds the weight network of a layer-shaped flat network (inputs carrying a dynamic batch leg).</summary>
    public static FlatNetwork Of(FlatNetwork net)
    {
        bool isDynamic(int leg) => DimModule.isDynamic(net.Indices[leg].Dim);
        var inputs = net.Tensors.Where(t => t.Role.IsInput).ToArray();
        var featureLegs = inputs.SelectMany(t => t.Legs.Where(l => !isDynamic(l))).Distinct().ToList();
        var outputLegs = net.Output.Where(l => !isDynamic(l)).ToList();
        var kept = net.Tensors.Where(t => !t.Role.IsInput)
            .Select((t, k) => new FlatTensor(k, t.Name, t.Family, t.Subscripts, t.Role, t.Param, t.Legs, t.Init, t.Embedding, t.Range))
            .ToArray();
        var open = featureLegs.Concat(outputLegs.Where(l => !featureLegs.Contains(l))).ToList();
        var cut = new FlatCut(FeatureOutputCut, ListModule.OfSeq(featureLegs), ListModule.OfSeq(outputLegs.Where(l => !featureLegs.Contains(l))), net.Range);
        // Legs that only inputs carried (the batch) become size-1 placeholders, so no analysis weighs them.
        var usedLegs = kept.SelectMany(t => t.Legs).Concat(open).ToHashSet();
        var indices = net.Indices
            .Select(i => usedLegs.Contains(i.Id) ? i : new FlatIndex(i.Id, i.Name, i.Family, i.Subscripts, Dim.NewFixed(1L), i.Kind, i.Range))
            .ToArray();
        return new FlatNetwork(net.Name + "_weights", net.Parameters, kept, indices, ListModule.OfSeq(open),
            featureLegs.Count > 0 && outputLegs.Count > 0 ? ListModule.OfSeq([cut]) : FSharpList<FlatCut>.Empty, net.Range);
    }
}

namespace TnDsl.BornMachine;

/// <summary>A network that is not an MPS Born machine; the message names the tensor or index at fault.</summary>
public sealed class MpsShapeException(string message) : Exception(message);

/// <summary>One site of an MPS read from a network: its weight, its input, and how the weight's legs map to (left, physical, right).</summary>
/// <param name="Weight">The weight tensor's name (<c>A[3]</c>).</param>
/// <param name="Param">The weight's parameter name (<c>A.3</c>).</param>
/// <param name="Pixel">Which input member (pixel) feeds the physical leg.</param>
/// <param name="Physical">The physical dimension.</param>
/// <param name="LegOrder">For each of (left bond, physical, right bond), its position among the weight's declared legs, or -1 where absent (chain ends).</param>
/// <param name="Init">The declared initialiser, or null.</param>
public sealed record MpsSite(string Weight, string Param, int Pixel, int Physical, int[] LegOrder, InitSpec? Init);

/// <summary>
/// The shape of an MPS Born machine read from a network: sites in chain order, bond dimensions (<c>Bonds[k]</c> joins
/// site k-1 and k; <c>Bonds[0] = Bonds[n] = 1</c>), the name of the network and of its input family.
/// </summary>
public sealed record MpsLayout(string Network, string InputFamily, MpsSite[] Sites, int[] Bonds)
{
    /// <summary>The number of sites (pixels).</summary>
    public int Length => Sites.Length;

    /// <summary>
    /// Reads a network and checks that it is an MPS Born machine: weights only (no const tensors), untied, each
    /// carrying exactly one physical leg shared with exactly one input of one input family (one-hot embedded), the
    /// other legs bonds to neighbouring weights forming one open chain, and only batch (dynamic) legs in the output.
    /// Throws <see cref="MpsShapeException"/> naming what is wrong.
    /// </summary>
    public static MpsLayout FromSpec(NetworkSpec spec)
    {
        string Leg(int l) => spec.Indices[l].Name;
        bool Dyn(int l) => spec.Indices[l].IsDynamic;
        var consts = spec.Tensors.Where(t => t.Role == TensorRole.Const).ToList();
        if (consts.Count > 0)
            throw new MpsShapeException($"{spec.Name}: an MPS Born machine has no const tensors, but {consts[0].Name} is one");
        var inputs = spec.Tensors.Where(t => t.Role == TensorRole.Input).ToList();
        var weights = spec.Tensors.Where(t => t.Role == TensorRole.Weight).ToList();
        if (inputs.Count == 0)
            throw new MpsShapeException($"{spec.Name}: no inputs; an MPS Born machine needs one one-hot input per site");
        var families = inputs.Select(t => t.Family).Distinct().ToList();
        if (families.Count != 1)
            throw new MpsShapeException($"{spec.Name}: expected one input family (one input per pixel), found {string.Join(", ", families)}");
        if (weights.Count < 2)
            throw new MpsShapeException($"{spec.Name}: an MPS needs at least two weight tensors, found {weights.Count}");
        if (weights.Count != inputs.Count)
            throw new MpsShapeException($"{spec.Name}: {weights.Count} weights but {inputs.Count} inputs; an MPS has one weight per input");
        var tied = weights.GroupBy(w => w.Param).FirstOrDefault(g => g.Count() > 1);
        if (tied is not null)
            throw new MpsShapeException($"{spec.Name}: weights {string.Join(", ", tied.Select(t => t.Name))} are tied; the trainer needs one tensor per site");
        foreach (var o in spec.Output)
            if (!Dyn(o))
                throw new MpsShapeException($"{spec.Name}: the output may only hold the batch, but it holds {Leg(o)}; ψ(v) is one number per image");

        // The physical leg of every input: its one fixed leg, one-hot embedded.
        var physicalOf = new Dictionary<int, (int Pixel, int Dim)>();
        for (int m = 0; m < inputs.Count; m++)
        {
            var x = inputs[m];
            var fixedLegs = x.Legs.Where(l => !Dyn(l)).ToList();
            if (fixedLegs.Count != 1)
                throw new MpsShapeException($"input {x.Name}: expected one pixel leg beside the batch, found {fixedLegs.Count} ({string.Join(", ", fixedLegs.Select(Leg))})");
            if (x.Embedding is not EmbeddingSpec.OneHot oh)
                throw new MpsShapeException($"input {x.Name}: a Born machine reads discrete pixels; declare `embed onehot({spec.Indices[fixedLegs[0]].Size})`");
            physicalOf[fixedLegs[0]] = (m, oh.D);
        }

        var holders = new Dictionary<int, List<int>>();
        foreach (var w in weights)
            foreach (var l in w.Legs)
                (holders.TryGetValue(l, out var h) ? h : holders[l] = []).Add(w.Id);
        var neighbours = weights.ToDictionary(w => w.Id, _ => new List<(int Other, int Leg)>());
        var physicalLeg = new Dictionary<int, int>();
        foreach (var w in weights)
        {
            foreach (var l in w.Legs)
            {
                if (Dyn(l))
                    throw new MpsShapeException($"weight {w.Name}: leg {Leg(l)} is dynamic (the batch); weights carry bonds and one pixel leg only");
                if (physicalOf.ContainsKey(l))
                {
                    if (physicalLeg.ContainsKey(w.Id))
                        throw new MpsShapeException($"weight {w.Name}: two pixel legs ({Leg(physicalLeg[w.Id])}, {Leg(l)}); an MPS site has one");
                    physicalLeg[w.Id] = l;
                    continue;
                }
                var others = holders[l].Where(h => h != w.Id).ToList();
                if (others.Count != 1)
                    throw new MpsShapeException(others.Count == 0
                        ? $"weight {w.Name}: leg {Leg(l)} joins nothing (an open leg); every non-pixel leg must be a bond to a neighbouring weight"
                        : $"weight {w.Name}: leg {Leg(l)} joins {others.Count + 1} weights; an MPS bond joins two");
                neighbours[w.Id].Add((others[0], l));
            }
            if (!physicalLeg.ContainsKey(w.Id))
                throw new MpsShapeException($"weight {w.Name}: no leg shared with an input; each MPS site has one pixel leg");
            if (neighbours[w.Id].Count is 0 or > 2)
                throw new MpsShapeException($"weight {w.Name}: {neighbours[w.Id].Count} bonds; an MPS site has one (at an end) or two");
            if (neighbours[w.Id].Select(n => n.Other).Distinct().Count() != neighbours[w.Id].Count)
                throw new MpsShapeException($"weight {w.Name}: two bonds to the same neighbour; an MPS has one bond between neighbours");
        }
        foreach (var (leg, (pixel, _)) in physicalOf)
            if (!holders.TryGetValue(leg, out var h) || h.Count != 1)
                throw new MpsShapeException($"input {inputs[pixel].Name}: its pixel leg {Leg(leg)} must sit on exactly one weight");

        var ends = weights.Where(w => neighbours[w.Id].Count == 1).ToList();
        if (ends.Count != 2)
            throw new MpsShapeException($"{spec.Name}: the weights do not form an open chain (found {ends.Count} chain ends; a ring or a tree is not an MPS)");
        var byId = weights.ToDictionary(w => w.Id);
        int Pixel(TensorSpec w) => physicalOf[physicalLeg[w.Id]].Pixel;
        var start = Pixel(ends[0]) <= Pixel(ends[1]) ? ends[0] : ends[1];

        var sites = new List<MpsSite>();
        var bonds = new List<int> { 1 };
        int previous = -1, leftLeg = -1;
        var current = start;
        while (true)
        {
            var next = neighbours[current.Id].Where(n => n.Other != previous).ToList();
            int rightLeg = next.Count == 1 ? next[0].Leg : -1;
            int P(int l) => l < 0 ? -1 : Array.IndexOf(current.Legs, l);
            var phys = physicalLeg[current.Id];
            sites.Add(new MpsSite(current.Name, current.Param, Pixel(current), physicalOf[phys].Dim,
                [P(leftLeg), P(phys), P(rightLeg)], current.Init));
            if (spec.Indices[phys].Size != physicalOf[phys].Dim)
                throw new MpsShapeException($"weight {current.Name}: pixel leg {Leg(phys)} has size {spec.Indices[phys].Size}, the one-hot embedding {physicalOf[phys].Dim}");
            if (next.Count == 0)
                break;
            bonds.Add(checked((int)spec.Indices[rightLeg].Size));
            (previous, leftLeg, current) = (current.Id, rightLeg, byId[next[0].Other]);
        }
        if (sites.Count != weights.Count)
            throw new MpsShapeException($"{spec.Name}: the weights form more than one piece; the chain from {start.Name} reaches {sites.Count} of {weights.Count}");
        bonds.Add(1);
        return new MpsLayout(spec.Name, families[0], sites.ToArray(), bonds.ToArray());
    }
}

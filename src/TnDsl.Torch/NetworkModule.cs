using TnDsl.Api;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

// The tests count the tensors alive between slices (NetworkModule.SliceDone).
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("TnDsl.Torch.Tests")]

namespace TnDsl.Torch;

/// <summary>Choices made once when a <see cref="NetworkModule"/> is built.</summary>
public sealed record NetworkModuleOptions
{
    /// <summary>Where parameters, buffers and results live (default: CPU).</summary>
    public Device? Device { get; init; }
    /// <summary>The floating-point type of parameters, buffers and results (default: float32).</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>Seed of the generator that initialises weights (and random const tensors).</summary>
    public long Seed { get; init; }
    /// <summary>Forces one kernel for every step it supports (tests, benchmarks); null uses
    /// <see cref="PairContraction.Fastest"/>, the rule measured once on typical steps.</summary>
    public PairKernel? Kernel { get; init; }
    /// <summary>When true (the default), steps with a one-hot input or a copy tensor run as gathers or diagonal views
    /// (see <see cref="Lowering"/>); when false every step runs densely (the reference the lowering is tested
    /// against). Either way the choice is made once, when the module is built.</summary>
    public bool Lower { get; init; } = true;
    /// <summary>Runs <see cref="NetworkModule.forward"/> in log-scale (see <see cref="NetworkModule.ForwardLog(Tensor[])"/>):
    /// intermediates are rescaled after every step and the result scaled back at the end.</summary>
    public bool LogScale { get; init; }
    /// <summary>Whether a sliced plan reuses across slices (the default). The slices run as nested loops over the
    /// sliced indices in the loop order (<see cref="SliceOrder"/>); a step runs again only when a sliced value it
    /// depends on changed, and a result a later step needs is held while that step's inner loops run (see
    /// <see cref="NetworkModule.StepRuns"/>). False runs every step in every slice.</summary>
    public bool SliceReuse { get; init; } = true;
    /// <summary>The loop order of a sliced plan: its sliced indices (<see cref="PlanView.SlicedLabels"/>, any order),
    /// outermost first; null for the plan's order. The value does not depend on it; the steps run do.</summary>
    public int[]? SliceOrder { get; init; }
    /// <summary>How a training step of a sliced plan runs (see <see cref="SliceCheckpointing"/>): by default
    /// (<see cref="SliceCheckpointing.Auto"/>) it records every slice where that fits the memory limit and checkpoints
    /// the slices in groups where it does not.</summary>
    public SliceCheckpointing CheckpointSlices { get; init; } = SliceCheckpointing.Auto;
    /// <summary>Forces the slices per group of a checkpointed training step (tests, benchmarks), any number from 1 (a
    /// group that does not start where a loop's values do runs some steps again); null (the default): the largest group
    /// that fits the memory limit (<see cref="ExecutedBytes.Checkpointing"/>).</summary>
    public long? CheckpointGroup { get; init; }
}

/// <summary>
/// How a <see cref="NetworkModule"/> runs a sliced plan where autograd records (a training step). Recording every slice
/// keeps every slice's activations until the backward pass, so a plan sliced to fit the forward pass may need far more
/// to train (an 8×8 lattice at D = 2 in 8,192 slices: 859 MB, its forward pass 8.9 MB; docs/memory.md). Checkpointing runs the slices
/// without recording, and its backward pass runs them again in groups of consecutive slices, one group recorded at a
/// time (gradient checkpointing): the memory of one group's activations for a second forward pass's time.
/// </summary>
public enum SliceCheckpointing
{
    /// <summary>Records every slice where the training step's estimate so fits the memory limit (the faster way),
    /// else checkpoints (<see cref="Always"/>).</summary>
    Auto,
    /// <summary>Checkpoints: each group as many consecutive slices as fit the memory limit
    /// (<see cref="ExecutedBytes.Checkpointing"/>), aligned to the slice loops so that reuse across slices works within
    /// a group.</summary>
    Always,
    /// <summary>Records every slice (the module's way before checkpointing), whatever it needs.</summary>
    Never,
}

/// <summary>One pairwise step of the execution plan: positions in the current operand list (linear convention).</summary>
public sealed record PlanStep(int Left, int Right, PairContraction Contraction, PairKernel Kernel)
{
    /// <summary>The structure-aware execution of this step (a gather, a diagonal), or null for <see cref="Kernel"/>
    /// on dense operands. Chosen when the module is built (see <see cref="Lowering.Choose"/>).</summary>
    public StepLowering? Lowering { get; init; }
}

/// <summary>What one input of a <see cref="NetworkModule"/> takes: a raw tensor of shape
/// [batch × <paramref name="BatchAxes"/>, ..<paramref name="Shape"/>], embedded by <paramref name="Embedding"/> if any.</summary>
/// <param name="Name">The input family's name.</param>
/// <param name="BatchAxes">How many leading dynamic (batch) axes it has.</param>
/// <param name="Shape">The axes after the batch axes: the member axis of a family with subscripts, then the fixed legs.</param>
/// <param name="Embedding">The embedding applied inside the module (raw values: class numbers for one-hot, values in
/// [0, 1] for the others), or null for values fed as they are.</param>
public sealed record InputInfo(string Name, int BatchAxes, long[] Shape, EmbeddingSpec? Embedding)
{
    /// <summary>The dynamic index (its id in <see cref="NetworkSpec.Indices"/>) of each batch axis, in order.</summary>
    public IReadOnlyList<int> BatchIndices { get; init; } = [];
}

/// <summary>
/// A tensor network as a TorchSharp module. Weights are <c>Parameter</c>s named after their parameter id
/// (<c>A.3</c>; tied tensors share one), const tensors are buffers, and inputs are fed raw: one tensor per input
/// family, batch (dynamic) axes first, then one axis over the family's members (if it has subscripts), then the
/// member's fixed legs in declared order, without the embedded leg where the input declares an embedding.
/// The output's axes follow the network's declared output legs. Execution follows the planner's pairwise steps
/// (<see cref="PlanView"/>, opt_einsum's linear convention): each step names two positions in the current operand
/// list, both are removed and their contraction is appended; what each step keeps and sums comes from the plan.
/// A sliced plan (<see cref="PlanView.SlicedLabels"/>) runs the slices as nested loops over its sliced indices and
/// adds the results; a step runs again only when a sliced value it depends on changed (see <see cref="StepRuns"/>).
/// Where autograd records and recording every slice does not fit the memory limit, the slices run without it and the
/// backward pass runs them again in groups (<see cref="SliceCheckpointing"/>).
/// </summary>
public sealed class NetworkModule : nn.Module<Tensor[], Tensor>
{
    internal enum Source { Parameter, Buffer, Input }

    /// How the operand of one network tensor is obtained at run time.
    internal sealed record Leaf(Source Source, string Name, int Slot, int Member, int[] Labels, bool Reduce, int[] ReducedLabels);

    /// One input family fed as a single raw tensor.
    /// Its batch axes are over the dynamic indices <paramref name="BatchLabels"/> (its first member's, in leg order).
    internal sealed record InputSlot(string Name, int Batch, bool HasMemberAxis, int Members, long[] MemberShape, EmbeddingSpec? Embedding,
                                     int[] BatchLabels)
    {
        /// The raw tensor's axes after the batch axes: the member axis if any, then the member's shape.
        public long[] Expected { get; } = [.. HasMemberAxis ? new long[] { Members } : [], .. MemberShape];
    }

    readonly NetworkSpec spec;
    readonly NetworkModuleOptions options;
    readonly Leaf[] leaves;
    readonly InputSlot[] slots;

    /// How each network tensor's operand is obtained (for the source emitter).
    internal IReadOnlyList<Leaf> Leaves => leaves;
    /// The input families (for the source emitter).
    internal IReadOnlyList<InputSlot> Slots => slots;
    /// The permutation applied to the last intermediate, or null (for the source emitter).
    internal long[]? FinalPermutation => finalPermutation;
    /// The options the module was built with (for the source emitter).
    internal NetworkModuleOptions Options => options;
    /// Each parameter and buffer in the order it was made, with the initialiser and shape it was made from (for the
    /// source emitter, which repeats the same draws from the same seed).
    internal List<(string Param, InitSpec Init, long[] Shape, bool Weight)> Made { get; } = [];
    /// The factor `init auto` scaled each of its weights by (for the source emitter).
    internal IReadOnlyDictionary<string, double> AutoFactors { get; private set; } = new Dictionary<string, double>();
    readonly PlanStep[] plan;
    readonly long[]? finalPermutation;
    readonly int[] dynamicLabels;
    readonly int[] outputBatchAxes;     // the output's axes over dynamic indices
    readonly int[] outputDynamic;       // the output's dynamic legs, in output order (the log-scale's axes)
    readonly int[] chunkIndices;        // the dynamic indices a forward pass may run in chunks along (MemoryGuard.ChunkIndices)
    readonly int[] slicedLabels;        // in loop order, outermost first
    readonly SliceReuse? reuse;         // the schedule of a sliced plan
    readonly bool reuseOn;              // whether it skips and holds (else every step runs in every slice)
    long[] stepRuns;
    // Inputs fed to their step as class numbers (a lowered one-hot), by tensor id.
    readonly bool[] asIndex;
    // Input families with a member fed as class numbers.
    readonly bool[] slotAsIndex;
    readonly List<string> parameterNames = [];
    readonly List<string> bufferNames = [];

    /// <summary>The network this module computes.</summary>
    public NetworkSpec Spec => spec;
    /// <summary>The input families, in the order <see cref="forward"/> takes them.</summary>
    public IReadOnlyList<string> InputNames => slots.Select(s => s.Name).ToArray();
    /// <summary>What each input takes, in the order <see cref="forward"/> takes them.</summary>
    public IReadOnlyList<InputInfo> Inputs =>
        slots.Select(s => new InputInfo(s.Name, s.Batch, [.. s.HasMemberAxis ? new long[] { s.Members } : [], .. s.MemberShape], s.Embedding)
        {
            BatchIndices = s.BatchLabels,
        }).ToArray();
    /// <summary>The names of the output's axes (the network's output legs).</summary>
    public IReadOnlyList<string> OutputLegs => spec.Output.Select(l => spec.Indices[l].Name).ToArray();
    /// <summary>The trainable parameters' names, in first-use order.</summary>
    public IReadOnlyList<string> ParameterNames => parameterNames;
    /// <summary>The buffers' names (const tensors).</summary>
    public IReadOnlyList<string> BufferNames => bufferNames;
    /// <summary>The pairwise steps executed by <see cref="forward"/>, including the left-to-right completion of a partial path.</summary>
    public IReadOnlyList<PlanStep> Plan => plan;
    /// <summary>The planner's plan this module executes: its steps, figures and the optimizer chosen.</summary>
    public PlanView ExecutionPlan { get; }
    /// <summary>How many times each step of <see cref="Plan"/> ran in the last call (1 each when unsliced). A sliced plan
    /// runs its slices as nested loops over its sliced indices in loop order o_1 … o_k (outermost first); a node of the
    /// tree depends on the sliced indices its leaves carry, and its level is the position of the innermost of them (0
    /// for none). Over all slices step s runs N_s = ∏_{j ≤ level(s)} size(o_j) times; a range of slices starting
    /// mid-way runs every step in its first slice, then, where the values change first at position c, the steps of
    /// level ≥ c. A call run in chunks of rows (<see cref="Chunking"/>) counts its last chunk's.</summary>
    public IReadOnlyList<long> StepRuns => stepRuns;
    /// <summary>The sliced indices in the order their loops run, outermost first (empty when unsliced).</summary>
    public IReadOnlyList<int> SliceOrder => slicedLabels;
    /// <summary>The number of trainable scalars (tied weights counted once).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Builds the module: creates and initialises parameters and buffers and prepares every step.</summary>
    /// <param name="spec">The network.</param>
    /// <param name="path">Pairs of positions in the current operand list (opt_einsum's linear convention), followed by
    /// the planner as a user-given path; operands left over at its end are contracted left to right.</param>
    /// <param name="options">Device, dtype, seed and kernel choice.</param>
    public NetworkModule(NetworkSpec spec, IReadOnlyList<(int, int)> path, NetworkModuleOptions? options = null)
        : this(spec, NetworkAdapter.FollowPath(spec, path), options)
    {
    }

    /// <summary>Builds the module: creates and initialises parameters and buffers and prepares every step of the plan.</summary>
    /// <param name="spec">The network.</param>
    /// <param name="plan">The planner's plan for this network (see <see cref="NetworkAdapter.Plan(NetworkView, string, BatchSizes?, int)"/>).</param>
    /// <param name="options">Device, dtype, seed and kernel choice.</param>
    public NetworkModule(NetworkSpec spec, PlanView plan, NetworkModuleOptions? options = null)
        : base(spec.Name)
    {
        this.spec = spec;
        this.options = options ??= new NetworkModuleOptions();
        // Any other dtype failed in libtorch, on the first weight made to require gradients, with a native stack.
        if (options.DType is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"dtype {options.DType}: a module's weights, consts and results are floating-point (Float32, Float64, Float16 or BFloat16)");
        if (spec.Tensors.Length == 0)
            throw new ArgumentException("the network has no tensors");
        if (plan.LeafLabels.Count != spec.Tensors.Length)
            throw new ArgumentException($"the plan is for {plan.LeafLabels.Count} tensors, the network has {spec.Tensors.Length}");
        ExecutionPlan = plan;
        slots = MakeSlots(spec);
        leaves = MakeLeaves(spec, slots, plan);
        (this.plan, finalPermutation, asIndex) = MakePlan(spec, slots, leaves, plan, options);
        slotAsIndex = slots.Select((_, s) => leaves.Where((l, id) => l.Source == Source.Input && l.Slot == s && asIndex[id]).Any()).ToArray();
        dynamicLabels = spec.Indices.Where(i => i.IsDynamic).Select(i => i.Id).ToArray();
        plannedExtents = BatchSizes.Planned(spec, plan);
        var planned = dynamicLabels.Select(l => plannedExtents[l]).ToArray();
        outputBatchAxes = spec.Output.Select((l, k) => (l, k)).Where(x => spec.Indices[x.l].IsDynamic).Select(x => x.k).ToArray();
        outputDynamic = spec.Output.Where(l => spec.Indices[l].IsDynamic).ToArray();
        chunkIndices = MemoryGuard.ChunkIndices(spec);
        // A planned forward pass over the chunk cap is judged at its first call: it runs in chunks, which are faster. A
        // training step is judged at its first call too unless the plan was fitted for training (FittedForTraining).
        (guardedForward, guardedTraining) = (OverCap(plannedExtents, options) ? [] : [planned], []);
        (guardedDType, builtDType) = (options.DType, options.DType);
        slicedLabels = options.SliceOrder?.ToArray() ?? plan.SlicedLabels.ToArray();
        if (slicedLabels.Length != plan.SlicedLabels.Length || !slicedLabels.Order().SequenceEqual(plan.SlicedLabels.Order()))
            throw new ArgumentException($"the slice order [{string.Join(", ", slicedLabels)}] is not an order of the plan's sliced indices [{string.Join(", ", plan.SlicedLabels)}]");
        stepRuns = new long[this.plan.Length];
        // Chains (never made for a sliced plan) pass their links' operands on unfinished: nothing of them is held.
        reuseOn = options.SliceReuse && this.plan.All(s => s.Lowering is not ChainLink);
        if (slicedLabels.Length > 0)
            reuse = SliceReuse.Of(leaves.Select(l => l.ReducedLabels).ToArray(), this.plan.Select(s => (s.Left, s.Right)).ToArray(), slicedLabels);
        if (slicedLabels.Any(l => spec.Output.Contains(l) || !leaves.Any(leaf => leaf.ReducedLabels.Contains(l))))
            throw new ArgumentException("the plan slices an open index, or one that no tensor keeps");
        if (plan.Slices > long.MaxValue)
            throw new ArgumentException($"the plan has {plan.Slices:E2} slices, more than can be run");
        var auto = AutoInit.Bases(spec);
        CreateState(options, auto);
        if (auto.Count > 0)
            AutoFactors = AutoInit.Scale(this, plan, auto);
    }

    static long Size(NetworkSpec spec, int leg) => spec.Indices[leg].Size;

    internal static InputSlot[] MakeSlots(NetworkSpec spec)
    {
        var result = new List<InputSlot>();
        foreach (var family in spec.Tensors.Where(t => t.Role == TensorRole.Input).GroupBy(t => t.Family))
        {
            var members = family.ToList();
            var first = members[0];
            bool dyn(int l) => spec.Indices[l].IsDynamic;
            int batch = first.Legs.Count(dyn);
            if (first.Embedding is { } e)
            {
                if (first.Legs.Length == 0 || dyn(first.Legs[^1]))
                    throw new ArgumentException($"input {first.Name}: an embedding needs a fixed last leg");
                if (Size(spec, first.Legs[^1]) != e.Width)
                    throw new ArgumentException($"input {first.Name}: embedding width {e.Width} differs from its last leg's size {Size(spec, first.Legs[^1])}");
            }
            long[] MemberShape(TensorSpec t) =>
                t.Legs.Take(t.Embedding is null ? t.Legs.Length : t.Legs.Length - 1).Where(l => !dyn(l)).Select(l => Size(spec, l)).ToArray();
            var shape = MemberShape(first);
            foreach (var m in members)
            {
                if (m.Legs.Count(dyn) != batch || !MemberShape(m).SequenceEqual(shape) || m.Embedding != first.Embedding)
                    throw new ArgumentException($"inputs {first.Name} and {m.Name} of one family differ in shape or embedding");
            }
            result.Add(new InputSlot(family.Key, batch, first.Subscripts.Length > 0, members.Count, shape, first.Embedding,
                                     first.Legs.Where(dyn).ToArray()));
        }
        return result.ToArray();
    }

    internal static Leaf[] MakeLeaves(NetworkSpec spec, InputSlot[] slots, PlanView plan)
    {
        var memberIndex = new Dictionary<string, int>();
        var leaves = new Leaf[spec.Tensors.Length];
        for (int id = 0; id < spec.Tensors.Length; id++)
        {
            var t = spec.Tensors[id];
            if (t.Id != id)
                throw new ArgumentException($"tensor {t.Name} has id {t.Id} at position {id}");
            int[] labels;
            Leaf leaf;
            if (t.Role == TensorRole.Input)
            {
                int slot = Array.FindIndex(slots, s => s.Name == t.Family);
                int member = memberIndex[t.Family] = memberIndex.GetValueOrDefault(t.Family, -1) + 1;
                // Labels in the order the raw value arrives: batch legs, fixed legs, embedded leg last.
                var body = t.Embedding is null ? t.Legs : t.Legs[..^1];
                labels = [.. body.Where(l => spec.Indices[l].IsDynamic), .. body.Where(l => !spec.Indices[l].IsDynamic),
                          .. t.Embedding is null ? Array.Empty<int>() : [t.Legs[^1]]];
                leaf = new Leaf(Source.Input, t.Name, slot, member, labels, false, labels);
            }
            else
            {
                labels = t.Legs;
                leaf = new Leaf(t.Role == TensorRole.Weight ? Source.Parameter : Source.Buffer, t.Param, -1, -1, labels, false, labels);
            }
            // The planner says which labels survive the tensor (open, or carried by another tensor).
            var keep = plan.LeafLabels[id].ToHashSet();
            var reduced = labels.Distinct().Where(keep.Contains).ToArray();
            leaves[id] = reduced.Length == labels.Length ? leaf : leaf with { Reduce = true, ReducedLabels = reduced };
        }
        return leaves;
    }

    internal static (PlanStep[], long[]?, bool[]) MakePlan(NetworkSpec spec, InputSlot[] slots, Leaf[] leaves, PlanView plan, NetworkModuleOptions options)
    {
        var output = spec.Output.ToHashSet();
        var ops = leaves.Select(l => l.ReducedLabels).ToList();
        var steps = new List<PlanStep>();
        foreach (var s in plan.Steps)
        {
            int i = s.Left, j = s.Right;
            if (i < 0 || j < 0 || i >= ops.Count || j >= ops.Count || i == j)
                throw new ArgumentException($"plan step ({i}, {j}) is invalid for {ops.Count} operands");
            // The planner gives the step's result legs in order; the backend executes them as given.
            // Summed legs in the order that spares the larger operand a copy (StepLayouts.Step).
            StepLayouts.Step(ops[i], ops[j], s.Kept.ToHashSet(), l => Size(spec, l), out bool rightOrder);
            var c = new PairContraction(ops[i], ops[j], s.Kept, rightOrder);
            var kernel = options.Kernel is { } f && c.Supports(f) ? f : c.Fastest;
            steps.Add(new PlanStep(i, j, c, kernel));
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add(s.Kept);
        }
        var asIndex = new bool[leaves.Length];
        if (options.Lower)
        {
            // The lowering is decided here, once (rules, see Lowering.Lower); forward never revisits it.
            var sliced = plan.SlicedLabels.ToHashSet();
            var forms = leaves.Select(l => FormOf(spec, slots, l, sliced)).ToArray();
            // Chains stack the cores of equal shape, which per-slice views of them may not have.
            Func<int, long>? size = sliced.Count > 0 ? null : l => Size(spec, l);
            (var lowered, asIndex) = Lowering.Lower(leaves.Select(l => l.ReducedLabels).ToArray(), forms,
                steps.Select(s => (s.Left, s.Right, s.Contraction)).ToArray(), size);
            for (int s = 0; s < steps.Count; s++)
                steps[s] = steps[s] with { Lowering = lowered[s] };
        }
        if (ops.Count == 1 && options.Kernel is null && steps.All(s => s.Lowering is null))
        {
            // A dense plan: each step oriented so that the intermediates need the fewest copies (StepLayouts).
            var (oriented, last) = StepLayouts.Orient(leaves.Select(l => l.ReducedLabels).ToArray(), plan, l => Size(spec, l));
            steps = [.. oriented];
            ops = [last];
        }
        var final = ops.Count == 1 ? ops[0] : throw new InvalidOperationException($"the plan leaves {ops.Count} operands");
        if (final.Length != spec.Output.Length || !final.All(output.Contains))
            throw new InvalidOperationException("the contracted result does not carry exactly the output legs");
        var perm = spec.Output.Select(l => (long)Array.IndexOf(final, l)).ToArray();
        bool identity = perm.Select((p, k) => p == k).All(x => x);
        return (steps.ToArray(), identity ? null : perm, asIndex);
    }

    /// What the lowering may use about a network tensor's operand: a one-hot input or a copy const, fed unreduced.
    /// A slice of a copy tensor, or one value of a one-hot leg, is no longer one: sliced legs keep them dense.
    static OperandForm FormOf(NetworkSpec spec, InputSlot[] slots, Leaf leaf, IReadOnlySet<int> sliced)
    {
        if (leaf.Reduce)
            return OperandForm.Dense;
        if (leaf.Source == Source.Input)
            return slots[leaf.Slot].Embedding is EmbeddingSpec.OneHot && !sliced.Contains(leaf.Labels[^1]) ? OperandForm.OneHot : OperandForm.Dense;
        if (leaf.Source == Source.Buffer && !leaf.Labels.Any(sliced.Contains))
        {
            var group = spec.Tensors.Where(t => t.Param == leaf.Name).ToList();
            var init = group.Select(t => t.Init).FirstOrDefault(i => i is not null);
            return Lowering.IsCopy(init, leaf.Labels.Select(l => Size(spec, l)).ToArray()) ? OperandForm.Copy : OperandForm.Dense;
        }
        return OperandForm.Dense;
    }

    void CreateState(NetworkModuleOptions options, IReadOnlyDictionary<string, InitSpec> auto)
    {
        var device = options.Device ?? CPU;
        using var on = MemoryGuard.OnDevice(device);
        var groups = spec.Tensors.Where(t => t.Role != TensorRole.Input).GroupBy(t => t.Param).ToList();
        // The guard before anything is allocated: every parameter and buffer in the module's dtype, plus the float64
        // values the largest initialiser makes on the CPU (a sum holds its two parts and the result).
        var sizes = groups.Select(g => g.First().Legs.Aggregate(System.Numerics.BigInteger.One, (n, l) => n * Size(spec, l))).ToList();
        if (sizes.Count > 0)
            MemoryGuard.Check(
                MemoryGuard.Bytes(sizes.Aggregate(System.Numerics.BigInteger.Zero, (a, b) => a + b), options.DType) +
                MemoryGuard.Bytes(sizes.Max() * 3, ScalarType.Float64),
                $"{spec.Name}: creating its {groups.Count} weight and const tensors ({options.DType.ToString().ToLowerInvariant()}, initialised in float64)");
        using var generator = new Generator((ulong)options.Seed);
        foreach (var group in groups)
        {
            var first = group.First();
            var shape = first.Legs.Select(l => Size(spec, l)).ToArray();
            foreach (var t in group)
            {
                if (t.Role != first.Role)
                    throw new ArgumentException($"parameter {first.Param} is both a weight and a const");
                if (!t.Legs.Select(l => Size(spec, l)).SequenceEqual(shape))
                    throw new ArgumentException($"tied tensors {first.Name} and {t.Name} differ in shape");
            }
            var init = auto.TryGetValue(first.Param, out var b) ? b
                       : group.Select(t => t.Init).FirstOrDefault(i => i is not null)
                         ?? (first.Role == TensorRole.Weight ? Initializers.DefaultWeight : Initializers.DefaultConst);
            Made.Add((first.Param, init, shape, first.Role == TensorRole.Weight));
            using var values = Initializers.Make(init, shape, generator);
            var placed = values.to(options.DType, device);
            if (first.Role == TensorRole.Weight)
            {
                register_parameter(first.Param, new Parameter(placed, requires_grad: true));
                parameterNames.Add(first.Param);
            }
            else
            {
                register_buffer(first.Param, placed);
                bufferNames.Add(first.Param);
            }
        }
    }

    /// The dtype and device of the module's state: those of its first parameter or buffer, read once and again only
    /// after that tensor was replaced (by <c>to(…)</c>); a forward call of a small network is a few tensor calls, and
    /// reading a tensor's device makes a Device object every time.
    (ScalarType, Device) Placement()
    {
        Tensor? first = parameterNames.Count > 0 ? get_parameter(parameterNames[0]) : bufferNames.Count > 0 ? get_buffer(bufferNames[0]) : null;
        if (first is null)
            return (options.DType, options.Device ?? CPU);
        if (!ReferenceEquals(first, placedBy))
        {
            placement = (first.dtype, first.device);
            placedBy = first;
        }
        return placement;
    }

    Tensor? placedBy;
    (ScalarType, Device) placement;

    /// The memory guard for a batch larger than the plan's: the plan was fitted to the limit at its own extents
    /// (MemoryGuard.Fit), so a call fed more rows along some dynamic index is checked against the estimate of the same
    /// program at the extents fed (training where autograd records, the forward pass otherwise) before anything is
    /// computed; each larger batch once. Returns no levels where the call runs whole, else how it runs in chunks of rows:
    /// a forward pass that does not fit, or fits but is over MemoryGuard.ChunkCap (judged at every call), of a network
    /// whose rows are independent along some dynamic index (MemoryGuard.ChunkIndices), runs in chunks
    /// (MemoryGuard.Chunking, at the extents fed) where <paramref name="mayChunk"/> and nothing records autograd (every
    /// chunk's activations would be kept). Any other call over the limit is refused, naming the most rows that fit.
    ChunkLevel[] GuardBatch(Tensor[] inputs, ScalarType dtype, Device device, bool mayChunk)
    {
        // On a GPU the limit is a share of its memory (MemoryGuard.Device); the CPU is the flow's default.
        using var on = device.type == DeviceType.CUDA ? MemoryGuard.OnDevice(device) : null;
        var fed = Fed(inputs);
        // The batches let through were judged under the limit set then: a limit set since (by code or
        // TN_MEMORY_LIMIT; the available memory is not read here) judges every batch again, the planned one too.
        var setting = MemoryGuard.Setting();
        if (setting != guardSetting || dtype != guardedDType)
        {
            // So does another dtype (the module moved by to(…)): its elements have another size.
            (guardedForward, guardedTraining) = ([], []);
            chunking = null;
            (guardSetting, guardedDType) = (setting, dtype);
        }
        // Every call runs this: a batch no larger than both guarded ones returns before the parameters are enumerated.
        if (Covered(guardedForward, fed) && Covered(guardedTraining, fed))
            return [];
        bool training = is_grad_enabled() && parameters().Any(p => p.requires_grad);
        ref long[][] guarded = ref training ? ref guardedTraining : ref guardedForward;
        if (Covered(guarded, fed))
            return [];
        var at = options with { DType = dtype };
        var extents = dynamicLabels.Select((l, k) => (l, k)).ToDictionary(x => x.l, x => fed[x.k]);
        var needed = MemoryGuard.Needed(Spec, ExecutionPlan, at, training, extents);
        var (limit, _) = MemoryGuard.Current();
        if (needed <= limit && needed < long.MaxValue)
        {
            // A forward pass that fits but is over the chunk cap runs in chunks of the cap where it may: the largest
            // chunk that fits is not the fastest (MemoryGuard.ChunkCap). It is judged at every call.
            if (!training && OverCap(extents, at))
                return mayChunk && Chunked(inputs, at, limit) is { Length: > 0 } capped ? capped : [];
            // A batch that fits covers the smaller ones: those it covers are dropped, so the list stays short. A new
            // array, not an edit: other threads may be reading the old one.
            guarded = [.. guarded.Where(g => !Dominates(fed, g)), fed];
            return [];
        }
        var doing = training ? "with autograd (a training step)," : "the forward pass,";
        // A network without rows fed is over a limit lowered since it was planned (see the setting above), in another
        // dtype than it was planned in, or with autograd where its plan was fitted for the forward pass alone.
        if (dynamicLabels.Length == 0)
            MemoryGuard.Check(needed, $"{Spec.Name} ({dtype.ToString().ToLowerInvariant()}), {doing}",
                setting != builtSetting ? "it was planned under a higher limit: build it again to fit its plan to this one"
                : dtype != builtDType ? $"it was planned in {builtDType.ToString().ToLowerInvariant()}: build it again in {dtype.ToString().ToLowerInvariant()} to fit its plan"
                : "its plan was fitted for the forward pass alone: call it under no_grad, or build it with Training = true to fit a training step");
        var what = $"{Spec.Name} ({dtype.ToString().ToLowerInvariant()}) fed a batch of {BatchSizes.Describe(Spec, extents, grouped: true)} " +
                   $"(planned for {BatchSizes.Describe(Spec, plannedExtents, grouped: true)}), " + doing;
        if (!training && mayChunk && Chunked(inputs, at, limit) is { } levels)
        {
            if (levels.Length > 0)
                return levels;
            if (MemoryGuard.NoChunk(Spec, ExecutionPlan, at, Extents(inputs)!) is { } advice)
                MemoryGuard.Check(needed, what, advice);
        }
        MemoryGuard.Check(needed, what, MemoryGuard.AtMost(MemoryGuard.MostRows(Spec, ExecutionPlan, at, training, extents), training, MemoryGuard.Along(extents)));
        // The limit rose between the two reads: the batch fits whole.
        return [];
    }

    /// Whether a forward pass at <paramref name="extents"/> (index id → extent), in <paramref name="at"/>'s dtype, would allocate more than
    /// MemoryGuard.ChunkCap, its rows being independent along some dynamic index: then it runs in chunks.
    bool OverCap(IReadOnlyDictionary<int, long> extents, NetworkModuleOptions at) =>
        chunkIndices.Any(i => extents.GetValueOrDefault(i) > 1) && MemoryGuard.ChunkBytes(Spec, ExecutionPlan, at, extents, []) > MemoryGuard.ChunkCap;

    /// The chunks of rows of a forward pass on <paramref name="inputs"/> (MemoryGuard.Chunking at the extents they carry,
    /// the last chosen where the extents and the limit are the same), empty where not even that fits; null where the
    /// inputs cannot be cut into chunks (see Extents) or no index may be chunked.
    ChunkLevel[]? Chunked(Tensor[] inputs, NetworkModuleOptions at, long limit)
    {
        if (chunkIndices.Length == 0 || Extents(inputs) is not { } sizes)
            return null;
        var carried = dynamicLabels.Select(l => sizes.GetValueOrDefault(l, -1)).ToArray();
        if (chunking is { } c && c.Sizes.SequenceEqual(carried) && c.Limit == limit)
            return c.Levels;
        var levels = MemoryGuard.Chunking(Spec, ExecutionPlan, at, sizes);
        if (levels.Length > 0)
            chunking = (carried, limit, levels);
        return levels;
    }

    // The batches that fit, forward and with autograd: the extents of the dynamic indices (in dynamicLabels' order) of
    // each call that was checked and fits; a call no larger along every index than one of them fits too.
    // The plan's own batch fits: it was fitted to the limit at build (GuardEveryBatch empties both).
    long[][] guardedForward, guardedTraining;
    // MemoryGuard.Setting() when the plan was fitted (the module built) or when the guard last judged every batch again.
    (long?, string?, string?, long) guardSetting = MemoryGuard.Setting();
    // The dtype the batches let through were judged in.
    ScalarType guardedDType;
    // MemoryGuard.Setting() and the dtype when the plan was fitted (FittedForTraining: the dtype then).
    readonly (long?, string?, string?, long) builtSetting = MemoryGuard.Setting();
    ScalarType builtDType;
    // The extent of each dynamic index that the plan was made for (index id → extent).
    readonly IReadOnlyDictionary<int, long> plannedExtents;
    // The chunks last chosen, for the extents fed (by dynamic index, -1 for one no input carries) and the limit then.
    (long[] Sizes, long Limit, ChunkLevel[] Levels)? chunking;

    static bool Dominates(long[] a, long[] b)
    {
        for (int k = 0; k < a.Length; k++)
            if (a[k] < b[k])
                return false;
        return true;
    }

    static bool Covered(long[][] guarded, long[] fed) => guarded.Any(g => Dominates(g, fed));

    /// The batch fed: the largest extent each dynamic index has on the inputs' batch axes (in dynamicLabels' order),
    /// the planned extent of one no input carries.
    long[] Fed(Tensor[] inputs)
    {
        var fed = new long[dynamicLabels.Length];
        for (int k = 0; k < fed.Length; k++)
            fed[k] = -1;
        for (int s = 0; s < slots.Length && s < inputs.Length; s++)
            for (int k = 0; k < slots[s].Batch && k < inputs[s].dim(); k++)
            {
                int at = Array.IndexOf(dynamicLabels, slots[s].BatchLabels[k]);
                fed[at] = Math.Max(fed[at], inputs[s].size(k));
            }
        for (int k = 0; k < fed.Length; k++)
            if (fed[k] < 0)
                fed[k] = plannedExtents[dynamicLabels[k]];
        return fed;
    }

    /// The extent of each dynamic index the inputs carry (index id → extent) where the inputs can be cut into chunks
    /// of rows: every input has its axes, an index has one extent on every batch axis over it, and no input records
    /// autograd; null otherwise.
    Dictionary<int, long>? Extents(Tensor[] inputs)
    {
        bool grad = is_grad_enabled();
        var sizes = new Dictionary<int, long>();
        for (int s = 0; s < slots.Length; s++)
        {
            if (inputs[s].dim() != slots[s].Batch + slots[s].Expected.Length || (grad && inputs[s].requires_grad))
                return null;
            for (int k = 0; k < slots[s].Batch; k++)
            {
                long n = inputs[s].size(k);
                if (sizes.TryGetValue(slots[s].BatchLabels[k], out var m) && m != n)
                    return null;
                sizes[slots[s].BatchLabels[k]] = n;
            }
        }
        return sizes;
    }

    /// <summary>
    /// Makes every call's batch checked by the memory guard, the plan's own batch included: for a plan whose forward
    /// pass fits only in chunks of rows (<see cref="MemoryGuard.FitPlan"/>), so that a call at that batch runs in
    /// chunks rather than whole.
    /// </summary>
    internal void GuardEveryBatch()
    {
        (guardedForward, guardedTraining) = ([], []);
    }

    /// <summary>
    /// Lets a call at the plan's own batch through unchecked, a training step too: for a plan fitted to the memory limit
    /// with the kept activations and gradients counted (<see cref="MemoryGuard.Fit"/> with training) in the dtype the
    /// module has now. A module whose plan was fitted for the forward pass alone checks its first training step, the
    /// planned batch's too.
    /// </summary>
    internal void FittedForTraining()
    {
        var (dtype, _) = Placement();
        var planned = dynamicLabels.Select(l => plannedExtents[l]).ToArray();
        (guardedForward, guardedTraining, guardedDType, builtDType) = (OverCap(plannedExtents, options with { DType = dtype }) ? [] : [planned], [planned], dtype, dtype);
    }

    /// <summary>How the last call ran its forward pass in chunks of rows, the outer level first, or empty where it ran
    /// whole: a forward pass that does not fit the memory limit at the rows fed runs the same plan on chunks of rows
    /// along one dynamic index, or two nested (see <see cref="forward"/>).</summary>
    public IReadOnlyList<ChunkLevel> Chunking { get; private set; } = [];

    /// <summary>Contracts the network with inputs given by name (input family names, see <see cref="InputNames"/>).</summary>
    public Tensor Forward(IReadOnlyDictionary<string, Tensor> inputs) => forward(ByName(inputs));

    /// <summary>
    /// Contracts the network with inputs given by position (the order of <see cref="InputNames"/>). With
    /// <see cref="NetworkModuleOptions.LogScale"/> the steps run rescaled (see <see cref="ForwardLog(Tensor[])"/>) and the
    /// result is scaled back at the end, so intermediates cannot overflow or underflow although the result can.
    /// <para>
    /// Where the forward pass does not fit the memory limit at the rows fed (<see cref="MemoryGuard"/>), or fits but
    /// allocates more than <see cref="MemoryGuard.ChunkCap"/> (smaller chunks are faster), nothing
    /// records autograd and the network's rows are independent along some dynamic index
    /// (<see cref="MemoryGuard.ChunkIndices"/>), the same plan runs on chunks of rows along one of them, or two nested
    /// (<see cref="Chunking"/>, from <see cref="MemoryGuard.Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/>), every input that carries
    /// it narrowed along its axes over it (the others whole), and each chunk's result is written into the whole one:
    /// the same values, row for row. Otherwise a batch over the limit is refused, naming the most rows that fit.
    /// </para>
    /// </summary>
    public override Tensor forward(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        if (!options.LogScale)
            return Whole(inputs, false, o => [(o.Value, spec.Output)])[0].MoveToOuterDisposeScope();
        return Whole(inputs, true, o =>
        {
            var r = o.Scaled();
            return [(r.Value * r.ExpandedLogScale().exp(), spec.Output)];
        })[0].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Contracts the network in log-scale: after every step the intermediate is divided by its largest absolute
    /// value per batch element (per assignment of its dynamic legs) and the logarithm of that divisor is carried
    /// alongside. Returns the normalised result and its log-scale, whose product is the network's value; nothing
    /// overflows or underflows on the way, whatever the length of the chain. Differentiable. A batch whose forward pass
    /// does not fit runs in chunks of rows as in <see cref="forward"/>.
    /// </summary>
    public LogScaled ForwardLog(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        // The log-scale has one axis per dynamic output leg.
        var r = Whole(inputs, true, o => [(o.Value, spec.Output), (o.LogScale!, outputDynamic)]);
        return new LogScaled(r[0].MoveToOuterDisposeScope(), r[1].MoveToOuterDisposeScope(), outputBatchAxes);
    }

    /// <summary>
    /// The sum of the slices numbered <c>[first, first + count)</c> of the plan (see <see cref="PlanView.SlicedLabels"/>;
    /// slice numbers run over every combination of the sliced indices' values, the last index fastest), added in
    /// slice order, without autograd and without log-scale. An unsliced plan has the one slice 0. Where
    /// <see cref="forward"/> adds every slice in one running sum, this lets a caller split the slices into ranges
    /// contracted apart (see <see cref="ISliceWork"/>); each range's sum follows the same order.
    /// </summary>
    public Tensor ForwardSlices(Tensor[] inputs, long first, long count)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return Execute(inputs, false, (first, count)).Value.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The sums of consecutive ranges of slices, the first starting at <paramref name="first"/>, of
    /// <paramref name="counts"/> slices each: each the very sum <see cref="ForwardSlices"/> gives for its range, the
    /// slices run in one pass so that reuse across slices (<see cref="StepRuns"/>) carries across the ranges'
    /// boundaries (a step is run again only where a value it depends on changed).
    /// </summary>
    public Tensor[] ForwardSliceRanges(Tensor[] inputs, long first, IReadOnlyList<long> counts)
    {
        if (counts.Count == 0 || counts.Any(c => c < 1))
            throw new ArgumentOutOfRangeException(nameof(counts), "every range needs at least one slice");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var parts = new List<Outcome>();
        Execute(inputs, false, (first, counts.Sum()), (counts, parts));
        return parts.Select(p => p.Value.MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary><see cref="ForwardLog(Tensor[])"/> with inputs given by name.</summary>
    public LogScaled ForwardLog(IReadOnlyDictionary<string, Tensor> inputs) => ForwardLog(ByName(inputs));

    Tensor[] ByName(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var unknown = inputs.Keys.Except(InputNames).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown input(s) {string.Join(", ", unknown)}; the inputs are {string.Join(", ", InputNames)}");
        return slots.Select(s => inputs.TryGetValue(s.Name, out var v) ? v : throw new ArgumentException($"missing input {s.Name}")).ToArray();
    }

    /// Runs the plan inside the caller's dispose scope; in log-scale the result carries its log-scale. A sliced plan
    /// runs its steps once per slice, on views of the operands with every sliced label fixed to one value (its axis
    /// kept at size 1), and adds the slices' results; autograd sees one sum, so gradients are those of the unsliced
    /// contraction.
    /// Only the slices of <paramref name="range"/> when given (an unsliced plan has the one slice 0).
    /// With <paramref name="split"/> (a sliced plan), the sums of consecutive parts of the range, of the counts given,
    /// go to its list, and the value returned is the last part's.
    Outcome Execute(Tensor[] inputs, bool logScale, (long First, long Count)? range = null,
                    (IReadOnlyList<long> Counts, List<Outcome> Parts)? split = null)
    {
        var (dtype, device) = Arguments(inputs);
        GuardBatch(inputs, dtype, device, mayChunk: false);
        Chunking = [];
        return Contract(inputs, logScale, dtype, device, range, split);
    }

    /// Checks the inputs' count and that none is null, and returns the module's dtype and device.
    (ScalarType, Device) Arguments(Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length != slots.Length)
            throw new ArgumentException($"expected {slots.Length} input(s) ({string.Join(", ", InputNames)}), got {inputs.Length}");
        for (int s = 0; s < inputs.Length; s++)
            if (inputs[s] is null)
                throw new ArgumentNullException(nameof(inputs), $"input {slots[s].Name} is null");
        return Placement();
    }

    /// The parts <paramref name="take"/> makes of the outcome of every row fed, each with the indices along its axes.
    /// Where the memory guard says so (<see cref="GuardBatch"/>), the plan runs on chunks of rows (each level's of sizes
    /// that differ by one row at most, ChunkLevel.Part), the innermost level fastest, each input that carries a level's index a view narrowed along its axes over it, in a dispose scope of
    /// its own, and each chunk's parts are copied into whole tensors made at the first chunk (autograd, where it
    /// records, sees the copies).
    Tensor[] Whole(Tensor[] inputs, bool logScale, Func<Outcome, (Tensor Value, int[] Legs)[]> take)
    {
        var (dtype, device) = Arguments(inputs);
        var levels = GuardBatch(inputs, dtype, device, mayChunk: true);
        Chunking = levels;
        CheckpointedGroup = levels.Length == 0 ? CheckpointGroup(inputs, dtype, device) : 0;
        if (levels.Length == 0)
            return take(CheckpointedGroup > 0
                ? Checkpointed(inputs, logScale, dtype, device, CheckpointedGroup)
                : Contract(inputs, logScale, dtype, device)).Select(p => p.Value).ToArray();
        Tensor[]? whole = null;
        var start = new long[levels.Length];
        var rows = new long[levels.Length];
        long chunks = (long)MemoryGuard.Chunks(levels);
        for (long chunk = 0; chunk < chunks; chunk++)
        {
            long rest = chunk;
            for (int k = levels.Length - 1; k >= 0; k--)
            {
                (start[k], rows[k]) = levels[k].Part(rest % levels[k].Count);
                rest /= levels[k].Count;
            }
            using var scope = NewDisposeScope();
            var part = new Tensor[inputs.Length];
            for (int s = 0; s < inputs.Length; s++)
            {
                part[s] = inputs[s];
                for (int k = 0; k < levels.Length; k++)
                    for (int axis = 0; axis < slots[s].Batch; axis++)
                        if (slots[s].BatchLabels[axis] == levels[k].Index)
                            part[s] = part[s].narrow(axis, start[k], rows[k]);
            }
            var taken = take(Contract(part, logScale, dtype, device));
            if (whole is null)
            {
                whole = taken.Select(t =>
                {
                    var shape = t.Value.shape;
                    foreach (var level in levels)
                        shape[Array.IndexOf(t.Legs, level.Index)] = level.Rows;
                    return empty(shape, t.Value.dtype, t.Value.device);
                }).ToArray();
                foreach (var w in whole)
                    scope.MoveToOuter(w);
            }
            for (int p = 0; p < taken.Length; p++)
            {
                var into = whole[p];
                for (int k = 0; k < levels.Length; k++)
                    into = into.narrow(Array.IndexOf(taken[p].Legs, levels[k].Index), start[k], rows[k]);
                into.copy_(taken[p].Value);
            }
        }
        return whole!;
    }

    /// Runs the plan on checked arguments (see <see cref="Execute"/>).
    Outcome Contract(Tensor[] inputs, bool logScale, ScalarType dtype, Device device, (long First, long Count)? range = null,
                     (IReadOnlyList<long> Counts, List<Outcome> Parts)? split = null)
    {
        var fed = new Tensor[slots.Length];
        var classes = new Tensor?[slots.Length];
        for (int s = 0; s < slots.Length; s++)
        {
            var raw = Check(slots[s], inputs[s], device);
            if (slotAsIndex[s])
                classes[s] = ClassNumbers(slots[s], raw);
            // A family fed (partly) as class numbers embeds only its other members, one by one (below).
            fed[s] = classes[s] is not null ? raw : Embed(slots[s], raw, dtype);
        }

        var scaling = logScale ? new LogScaling(dynamicLabels, dtype, device) : null;
        var operands = new List<(Tensor Value, bool Owned)>(leaves.Length);
        // A family's members made by one call per family (a chain of 784 pixels asks for 784 of them); class numbers
        // member-major, so that each member's are contiguous.
        var classMembers = new Tensor[]?[slots.Length];
        var fedMembers = new Tensor[]?[slots.Length];
        for (int id = 0; id < leaves.Length; id++)
        {
            var leaf = leaves[id];
            if (asIndex[id])
            {
                var slot = slots[leaf.Slot];
                var k = slot.HasMemberAxis ? (classMembers[leaf.Slot] ??= classes[leaf.Slot]!.movedim([slot.Batch], [0]).contiguous().unbind(0))[leaf.Member] : classes[leaf.Slot]!;
                operands.Add((k, slot.HasMemberAxis));
                continue;
            }
            (Tensor Value, bool Owned) operand = leaf.Source switch
            {
                Source.Parameter => (get_parameter(leaf.Name)!, false),
                Source.Buffer => (get_buffer(leaf.Name)!, false),
                _ when classes[leaf.Slot] is not null =>
                    (Embed(slots[leaf.Slot], slots[leaf.Slot].HasMemberAxis ? fed[leaf.Slot].select(slots[leaf.Slot].Batch, leaf.Member) : fed[leaf.Slot], dtype), true),
                _ => slots[leaf.Slot].HasMemberAxis ? ((fedMembers[leaf.Slot] ??= fed[leaf.Slot].unbind(slots[leaf.Slot].Batch))[leaf.Member], true) : (fed[leaf.Slot], false),
            };
            if (leaf.Reduce)
            {
                var (reduced, _) = PairContraction.Reduce(operand.Value, leaf.Labels, leaf.ReducedLabels.Contains);
                if (operand.Owned)
                    operand.Value.Dispose();
                operand = (reduced, true);
            }
            operands.Add(operand);
        }
        if (slicedLabels.Length == 0)
        {
            if (range is { } r && (r.First != 0 || r.Count != 1))
                throw new ArgumentOutOfRangeException(nameof(range), $"slices [{r.First}, {r.First} + {r.Count}) are not within the 1 slice of an unsliced plan");
            Array.Fill(stepRuns, 1);
            var whole = Finish(RunSteps(operands, scaling), scaling);
            split?.Parts.Add(whole);
            return whole;
        }

        // The extent of each sliced label at run time (a dynamic label takes the batch actually fed).
        var labels = leaves.Select(l => l.ReducedLabels).ToArray();
        var extents = Slices.Extents(operands.Select(o => o.Value).ToArray(), labels, slicedLabels);
        var (first, count) = range ?? (0, Slices.Count(extents));
        if (count == 0)
            throw new ArgumentOutOfRangeException(nameof(range), "an empty range of slices has no value");
        // Nested loops over the sliced labels (see SliceReuse): a step runs only when a value it depends on changed;
        // a result held for a later step is released when it is replaced (or after the last slice), and is lent to
        // its consumer, which does not release it. Each slice runs in its own dispose scope, so that its temporaries
        // are freed before the next slice whatever the number of slices; what outlives the slice (a held result with
        // its log-scale, class numbers or chain parts, and the running sum) is moved to the caller's scope and
        // released when it is replaced. Autograd keeps its own references to what backward needs.
        Array.Clear(stepRuns);
        var held = new LiveOperand?[plan.Length];
        var kept = new List<Tensor>?[plan.Length];
        int n = leaves.Length;
        Outcome? total = null;
        long[]? previous = null;
        long inPart = 0;
        foreach (var values in Slices.Values(extents, first, count))
        {
            int changed = reuseOn ? SliceReuse.Changed(previous, values) : 0;
            previous = values;
            using (var sliceScope = NewDisposeScope())
            {
                var node = new LiveOperand?[n + plan.Length];
                LiveOperand Operand(int k)
                {
                    if (k >= n)
                        return node[k] ?? held[k - n]!.Value with { Owned = false };
                    var v = Slices.Narrow(operands[k].Value, labels[k], slicedLabels, values);
                    return Live(k, v, !ReferenceEquals(v, operands[k].Value), scaling);
                }
                for (int s = 0; s < plan.Length; s++)
                {
                    if (!reuse!.Runs(s, changed))
                        continue;
                    bool hold = reuseOn && reuse.Held[s];
                    // The held result a step replaces is needed by nothing that still runs in this slice.
                    if (hold && kept[s] is { } old)
                        DisposeAll(old);
                    var (a, b) = reuse.Operands[s];
                    var r = Apply(plan[s], Operand(a), Operand(b), scaling);
                    stepRuns[s]++;
                    if (hold)
                        (held[s], kept[s]) = (r, KeepOutside(sliceScope, r));
                    else
                        node[n + s] = r;
                }
                var part = Finish(plan.Length == 0 ? Operand(0) : node[n + plan.Length - 1]!.Value, scaling);
                total = total is { } sum ? Add(sum, part, scaling is not null) : part;
                sliceScope.MoveToOuter(total.Value.Value);
                if (total.Value.LogScale is { } log)
                    sliceScope.MoveToOuter(log);
            }
            if (split is { } parts && ++inPart == parts.Counts[parts.Parts.Count])
            {
                parts.Parts.Add(total.Value);
                if (parts.Parts.Count < parts.Counts.Count)
                    total = null;
                inPart = 0;
            }
            SliceDone?.Invoke();
        }
        foreach (var last in kept)
            if (last is not null)
                DisposeAll(last);
        // The narrowed views were released with their slices; the operands made here for every slice are released once.
        foreach (var (value, owned) in operands)
            if (owned)
                value.Dispose();
        return total!.Value;
    }

    /// The slices per group where this call is a training step of a sliced plan that checkpoints its slices
    /// (<see cref="ExecutedBytes.Checkpointing"/> at the rows fed, under the memory limit now), else 0: an unsliced
    /// plan, nothing recording autograd, or every slice recorded. Worked out once per batch, limit setting and dtype.
    long CheckpointGroup(Tensor[] inputs, ScalarType dtype, Device device)
    {
        if (slicedLabels.Length == 0 || options.CheckpointSlices == SliceCheckpointing.Never || !is_grad_enabled() ||
            !(parameters().Any(p => p.requires_grad) || inputs.Any(i => i.requires_grad)))
            return 0;
        using var on = device.type == DeviceType.CUDA ? MemoryGuard.OnDevice(device) : null;
        var fed = Fed(inputs);
        var setting = MemoryGuard.Setting();
        if (groupChosen is { } c && c.Fed.SequenceEqual(fed) && c.Setting == setting && c.DType == dtype)
            return c.Group;
        var extents = dynamicLabels.Select((l, k) => (l, k)).ToDictionary(x => x.l, x => fed[x.k]);
        var (_, group) = ExecutedBytes.Checkpointing(spec, ExecutionPlan, options with { DType = dtype }, MemoryModel.AdamSlots, null, extents);
        // Replaced whole, never edited: other threads may be reading the old one.
        groupChosen = new GroupChoice(fed, setting, dtype, group);
        return group;
    }

    /// A group size CheckpointGroup worked out, with the batch, limit setting and dtype it was for.
    sealed record GroupChoice(long[] Fed, (long?, string?, string?, long) Setting, ScalarType DType, long Group);

    GroupChoice? groupChosen;

    /// <summary>The slices per group in which the last call (<see cref="forward"/>, <see cref="ForwardLog(Tensor[])"/>)
    /// checkpointed its training step (<see cref="SliceCheckpointing"/>), or 0 where it recorded every slice, recorded
    /// nothing or ran an unsliced plan.</summary>
    public long CheckpointedGroup { get; private set; }

    /// A training step of a sliced plan checkpointed in groups of <paramref name="group"/> slices: the slices run as
    /// <see cref="Contract"/> runs them without autograd, and their sum is the output of <see cref="SliceCheckpoint"/>,
    /// whose backward pass runs each group again with autograd (<see cref="CheckpointRun.Backward"/>). The value is
    /// that of <see cref="Contract"/>; the gradients of the parameters and of the inputs that need one are those of
    /// the unsliced contraction.
    Outcome Checkpointed(Tensor[] inputs, bool logScale, ScalarType dtype, Device device, long group)
    {
        // Each tensor once: a tensor fed for two inputs gets one gradient, not two.
        var leaves = new List<Tensor>();
        foreach (var t in parameters().Where(p => p.requires_grad).Cast<Tensor>().Concat(inputs.Where(i => i.requires_grad)))
            if (!leaves.Any(l => l.Handle == t.Handle))
                leaves.Add(t);
        var fed = Fed(inputs);
        long slices = slicedLabels.Aggregate(1L, (n, l) => checked(n * (spec.Indices[l].IsDynamic ? fed[Array.IndexOf(dynamicLabels, l)] : Size(spec, l))));
        var run = new CheckpointRun(this, inputs, logScale, dtype, device, slices, group, leaves.ToArray());
        var value = SliceCheckpoint.apply([run, .. leaves]);
        return new Outcome(value, run.LogScale, logScale ? outputBatchAxes : []);
    }

    /// The state of one checkpointed training step (see <see cref="Checkpointed"/>), from its forward pass to its
    /// backward pass.
    sealed class CheckpointRun(NetworkModule module, Tensor[] inputs, bool logScale, ScalarType dtype, Device device, long slices, long group,
                               Tensor[] leaves)
    {
        /// The value's log-scale (log-scale runs; a constant, as every log-scale is), for the caller's outcome.
        public Tensor? LogScale { get; private set; }
        // A copy of it outside every dispose scope, for the backward pass.
        Tensor? savedLog;

        /// The sum of every slice, autograd off (the function's forward pass).
        public Tensor Forward()
        {
            var o = module.Contract(inputs, logScale, dtype, device);
            LogScale = o.LogScale;
            savedLog = o.LogScale?.detach().DetachFromDisposeScope();
            return o.Value;
        }

        /// The gradients of the leaves: each group of slices run again with autograd, its sum backpropagated with
        /// <paramref name="grad"/> (in log-scale, the total's value is Σ_g value_g · e^(scale_g − scale), the scales
        /// constants, so group g's gradient is <paramref name="grad"/> · e^(scale_g − scale)), and the groups' gradients
        /// summed. One group's activations are alive at a time.
        public List<Tensor> Backward(Tensor grad)
        {
            var sums = new Tensor?[leaves.Length];
            using var scope = NewDisposeScope();
            // Autograd runs a custom function's backward with recording off (and, for a GPU, on its device's thread).
            using (var recording = enable_grad())
                for (long first = 0; first < slices; first += group)
                {
                    using (var groupScope = NewDisposeScope())
                    {
                        var o = module.Contract(inputs, logScale, dtype, device, (first, Math.Min(group, slices - first)));
                        var g = logScale
                            ? grad * new LogScaled(o.Value, ScalarOps.Minus(o.LogScale!, savedLog!), o.BatchAxes).ExpandedLogScale().exp()
                            : grad;
                        var parts = autograd.grad([o.Value], leaves, [g], allow_unused: true);
                        for (int k = 0; k < leaves.Length; k++)
                        {
                            var part = parts[k];
                            if (part is null || part.IsInvalid)
                                continue;
                            if (sums[k] is { } sum)
                                ScalarOps.PlusScaledInPlace(sum, part, 1.0);
                            else
                                sums[k] = groupScope.MoveToOuter(part.detach().clone()); // not a view of the gradient fed in
                        }
                    }
                    module.SliceGroupDone?.Invoke();
                }
            // The caller's scope (if any) releases them, after autograd took its own references.
            return [null!, .. sums.Select(t => t is null ? null! : scope.MoveToOuter(t))];
        }
    }

    /// The custom autograd function of a checkpointed training step: its one argument that is not a tensor is the
    /// <see cref="CheckpointRun"/>, the others the tensors that need a gradient.
    sealed class SliceCheckpoint : autograd.SingleTensorFunction<SliceCheckpoint>
    {
        public override string Name => nameof(SliceCheckpoint);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var run = (CheckpointRun)vars[0];
            ctx.save_data(nameof(CheckpointRun), run);
            return run.Forward();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output) =>
            ((CheckpointRun)ctx.get_data(nameof(CheckpointRun))).Backward(grad_output);
    }

    /// <summary>Called after each group of a checkpointed backward pass, its scope disposed (tests count the live
    /// tensors there).</summary>
    internal Action? SliceGroupDone { get; set; }

    /// <summary>Called after each slice of a sliced pass, its scope disposed (tests count the live tensors there).</summary>
    internal Action? SliceDone { get; set; }

    /// Moves the tensors of a held result that belong to the slice's scope (its value, log-scale, class numbers, chain
    /// parts; not a leaf's operand or another held result it was lent) to the caller's scope, and returns them: they
    /// are released when the result is replaced.
    static List<Tensor> KeepOutside(DisposeScope slice, LiveOperand r)
    {
        var mine = new List<Tensor>();
        void Keep(Tensor? t)
        {
            if (t is not null && slice.Contains(t))
            {
                slice.MoveToOuter(t);
                mine.Add(t);
            }
        }
        Keep(r.Value);
        Keep(r.Log);
        Keep(r.Classes);
        if (r.Chain is { } chain)
        {
            Keep(chain.Start);
            foreach (var t in chain.Classes.Concat(chain.Cores).Concat(chain.Owned))
                Keep(t);
        }
        return mine;
    }

    static void DisposeAll(List<Tensor> tensors)
    {
        foreach (var t in tensors)
            t.Dispose();
        tensors.Clear();
    }

    /// A leaf's operand as a step takes it (normalised in log-scale).
    LiveOperand Live(int leaf, Tensor value, bool owned, LogScaling? scaling) =>
        scaling is null || asIndex[leaf]
            ? new LiveOperand(value, owned, leaves[leaf].ReducedLabels, scaling?.Zero())
            : scaling.Normalise(value, owned, leaves[leaf].ReducedLabels, scaling.Zero());

    /// Runs the pairwise steps on the leaves' operands (disposing those it owns) and returns the last one.
    LiveOperand RunSteps(List<(Tensor Value, bool Owned)> operands, LogScaling? scaling)
    {
        var live = new List<LiveOperand>(operands.Count);
        for (int i = 0; i < operands.Count; i++)
            live.Add(Live(i, operands[i].Value, operands[i].Owned, scaling));
        foreach (var step in plan)
        {
            var r = Apply(step, live[step.Left], live[step.Right], scaling);
            live.RemoveAt(Math.Max(step.Left, step.Right));
            live.RemoveAt(Math.Min(step.Left, step.Right));
            live.Add(r);
        }
        return live[0];
    }

    /// One step on its operands, releasing those it owns (a chain link or a deferred one-hot takes them over).
    static LiveOperand Apply(PlanStep step, LiveOperand a, LiveOperand b, LogScaling? scaling)
    {
        if (scaling is not null)
        {
            // A batch label summed here may carry different scales per entry: fold them into the values first.
            a = scaling.Fold(a, step.Contraction.Contracted);
            b = scaling.Fold(b, step.Contraction.Contracted);
        }
        // A chain link takes over its operands (the chain's last link runs it and releases what it owns).
        if (step.Lowering is ChainLink link && scaling is null)
            return link.Accept(a, b);
        if (step.Lowering is DeferOneHot defer)
            return defer.Defer(a, b);
        var r = step.Lowering switch
        {
            ContractThenGather fused => fused.Apply(a, b),
            ChainLink alone => alone.Stepwise.Apply(a, b),
            { } lowered => lowered.Apply(a.Value, b.Value),
            null => step.Contraction.Apply(a.Value, b.Value, step.Kernel),
        };
        if (a.Owned)
            a.Value.Dispose();
        if (b.Owned)
            b.Value.Dispose();
        return scaling is null
            ? new LiveOperand(r, true, step.Contraction.Result, null)
            : scaling.Normalise(r, true, step.Contraction.Result, ScalarOps.Plus(a.Log!, b.Log!));
    }

    /// The value of a run: in log-scale with its log-scale per batch leg (see <see cref="LogScaled"/>), else none.
    readonly record struct Outcome(Tensor Value, Tensor? LogScale, int[] BatchAxes)
    {
        public LogScaled Scaled() => new(Value, LogScale!, BatchAxes);

        public void Dispose()
        {
            Value.Dispose();
            LogScale?.Dispose();
        }
    }

    /// The last operand as the network's value: its axes in output order, and in log-scale its scale per batch leg.
    /// Few calls: for a small network each TorchSharp call is a visible share of the forward. A value the network
    /// does not own (an input or a weight passed through) is returned as a view of it: alias() would be a second
    /// handle on the caller's tensor or the parameter, whose in-place metadata changes (unsqueeze_, requires_grad_)
    /// reached it.
    Outcome Finish(LiveOperand last, LogScaling? scaling)
    {
        var value = finalPermutation is not null ? last.Value.permute(finalPermutation) : last.Owned ? last.Value : last.Value.view_as(last.Value);
        if (last.Owned && finalPermutation is not null)
            last.Value.Dispose();
        if (scaling is null)
            return new Outcome(value, null, []);
        return new Outcome(value, scaling.ToLegs(last.Log!, spec.Output.Where(l => spec.Indices[l].IsDynamic).ToArray()), outputBatchAxes);
    }

    /// The sum of two slices' values. In log-scale both are brought to the larger scale per batch element before
    /// adding, and the sum is normalised again (largest absolute entry 1 per batch element).
    static Outcome Add(Outcome a, Outcome b, bool logScale)
    {
        if (!logScale)
        {
            var sum = ScalarOps.Plus(a.Value, b.Value);
            a.Dispose();
            b.Dispose();
            return new Outcome(sum, null, []);
        }
        var m = maximum(a.LogScale!, b.LogScale!);
        using var ea = (a with { LogScale = ScalarOps.Minus(a.LogScale!, m) }).Scaled().ExpandedLogScale().exp();
        using var eb = (b with { LogScale = ScalarOps.Minus(b.LogScale!, m) }).Scaled().ExpandedLogScale().exp();
        var v = ScalarOps.Plus(a.Value * ea, b.Value * eb);
        a.Dispose();
        b.Dispose();
        var other = Enumerable.Range(0, (int)v.dim()).Where(k => !a.BatchAxes.Contains(k)).Select(k => (long)k).ToArray();
        var peak = other.Length == 0 ? v.abs() : v.abs().amax(other, keepdim: true);
        peak = where(ScalarOps.Equal(peak, 0.0), ones_like(peak), peak).detach_();
        var batchShape = a.BatchAxes.Select(k => v.shape[k]).ToArray();
        return new Outcome(v / peak, ScalarOps.Plus(m, peak.log().reshape(batchShape)), a.BatchAxes);
    }

    /// Checks a raw input's shape and moves it to the module's device (Device objects compare by reference, so the
    /// type and index are compared).
    static Tensor Check(InputSlot slot, Tensor raw, Device device)
    {
        var expected = slot.Expected;
        var shape = raw.shape;
        if (shape.Length != slot.Batch + expected.Length || !shape.AsSpan(slot.Batch).SequenceEqual(expected))
            throw new ArgumentException(
                $"input {slot.Name}: expected shape [{string.Join(", ", Enumerable.Repeat("batch", slot.Batch).Concat(expected.Select(e => e.ToString())))}], got [{string.Join(", ", shape)}]");
        return raw.device_type == device.type && raw.device_index == device.index ? raw : raw.to(device);
    }

    /// Embeds a checked raw input (or converts it to the module's dtype).
    static Tensor Embed(InputSlot slot, Tensor raw, ScalarType dtype) =>
        slot.Embedding is { } e ? Embeddings.Apply(e, raw, dtype) : raw.dtype == dtype ? raw : raw.to_type(dtype);

    /// A one-hot input's class numbers as int64, refused (as the one-hot embedding refuses them) outside 0..width-1:
    /// a gather must never read a neighbouring row.
    static Tensor ClassNumbers(InputSlot slot, Tensor raw)
    {
        var k = raw.dtype == ScalarType.Int64 ? raw.alias() : raw.to_type(ScalarType.Int64);
        long width = ((EmbeddingSpec.OneHot)slot.Embedding!).D;
        if (k.numel() > 0 && k.aminmax() is var (min, max) && (min.item<long>() < 0 || max.item<long>() >= width))
            throw new ArgumentException($"input {slot.Name}: one-hot class numbers must lie in 0..{width - 1}");
        return k;
    }
}


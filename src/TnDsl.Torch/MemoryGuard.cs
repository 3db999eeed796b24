using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using TnDsl.Api;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// An allocation refused by <see cref="MemoryGuard"/> before anything was allocated: <see cref="What"/> needed
/// <see cref="BytesNeeded"/> bytes and the limit was <see cref="Limit"/> (from <see cref="LimitSource"/>).
/// </summary>
public sealed class MemoryLimitException(string what, BigInteger bytesNeeded, long limit, string limitSource, string message)
    : Exception(message)
{
    /// <summary>What was to be allocated (for example "the weights of mps (784 tensors)").</summary>
    public string What { get; } = what;
    /// <summary>The bytes it needed (exact; may exceed 2^63).</summary>
    public BigInteger BytesNeeded { get; } = bytesNeeded;
    /// <summary>The limit in bytes at the time of the check.</summary>
    public long Limit { get; } = limit;
    /// <summary>Where the limit came from: the override, <c>TN_MEMORY_LIMIT</c>, the cgroup or MemAvailable.</summary>
    public string LimitSource { get; } = limitSource;
}

/// <summary>
/// A plan fitted to the memory limit by <see cref="MemoryGuard.FitPlan"/>: its forward pass runs whole
/// (<see cref="Chunks"/> empty) or in chunks of rows (a module not built for training, whose forward pass fits only
/// so; see <see cref="MemoryGuard.Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/>).
/// </summary>
public sealed record FittedPlan(PlanView Plan, IReadOnlyList<ChunkLevel> Chunks);

/// <summary>
/// One level of a forward pass run in chunks of rows: the dynamic index <see cref="Index"/>, of <see cref="Rows"/>
/// rows, cut into <see cref="Count"/> chunks of at most <see cref="Chunk"/> rows that differ by one row at most
/// (<see cref="Part"/>). Levels nest, the outer first: each chunk of an outer level runs every chunk of the inner ones.
/// </summary>
public sealed record ChunkLevel(int Index, long Rows, long Chunk)
{
    /// <summary>The number of chunks this level cuts its rows into: as many as chunks of <see cref="Chunk"/> rows make.</summary>
    public long Count => MemoryGuard.Chunks(Rows, Chunk);

    /// <summary>
    /// The first row and the rows of chunk <paramref name="i"/> (0 ≤ i &lt; <see cref="Count"/>): the rows shared out
    /// evenly, the first <c>Rows mod Count</c> chunks one row longer than the others (none longer than
    /// <see cref="Chunk"/>).
    /// </summary>
    public (long Start, long Rows) Part(long i)
    {
        long count = Count, size = Rows / count, longer = Rows % count;
        return (i * size + Math.Min(i, longer), size + (i < longer ? 1 : 0));
    }

    /// <summary>
    /// The level of <paramref name="rows"/> rows along <paramref name="index"/> in the fewest chunks of at most
    /// <paramref name="most"/> rows, balanced: its <see cref="Chunk"/> the longest of them (<c>ceil(rows / count)</c>).
    /// </summary>
    public static ChunkLevel Balanced(int index, long rows, long most) =>
        new(index, rows, MemoryGuard.Chunks(rows, MemoryGuard.Chunks(rows, most)));
}

/// <summary>
/// The one byte-size guard of the backend. Everything that allocates tensors whose size comes from user input
/// (weights and buffers when a module is built, random inputs, the plan's intermediates, the activations and
/// gradients of a backward pass, checkpoints and data files) calls <see cref="Check(BigInteger, string)"/> with the
/// bytes it is about to allocate, before allocating, and gets a <see cref="MemoryLimitException"/> naming the
/// figures instead of an abort in libtorch or a kill by the kernel.
/// <para>
/// The limit (<see cref="Limit"/>) is, in order: <see cref="LimitOverride"/> when set (code), else the environment
/// variable <c>TN_MEMORY_LIMIT</c> (bytes, with an optional K/M/G/T suffix in powers of 1024, or a percentage of
/// the available memory such as <c>50%</c>), else <see cref="DefaultFraction"/> of the memory available now: the
/// smallest of the cgroup's room (v2 <c>memory.max − memory.current</c> on the process's cgroup and its ancestors,
/// or v1 <c>memory.limit_in_bytes − memory.usage_in_bytes</c>) and <c>/proc/meminfo</c>'s <c>MemAvailable</c>.
/// Where neither can be read the limit is 2^63 − 1 bytes, and only sizes that overflow are refused.
/// </para>
/// <para>
/// Plans are fitted by <see cref="Fit"/>: the planner's byte estimate (<see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>) is compared with the
/// limit before anything is allocated, and the plan is sliced to fit where that is possible.
/// </para>
/// </summary>
public static class MemoryGuard
{
    /// <summary>The environment variable that sets the limit (see the type's summary for its forms).</summary>
    public const string EnvironmentVariable = "TN_MEMORY_LIMIT";

    /// <summary>The share of the available memory one check may claim by default.</summary>
    public const double DefaultFraction = 0.8;

    /// <summary>
    /// A limit set by code (bytes), which wins over the environment; null (the default) leaves it to them. It belongs
    /// to the logical flow that sets it (an <see cref="AsyncLocal{T}"/>: the calling thread and the tasks and threads
    /// it starts afterwards), so one command run in process (<c>tn contract --memory-limit</c>) does not limit another
    /// running beside it in the same process.
    /// </summary>
    public static long? LimitOverride
    {
        get => limitOverride.Value;
        set => limitOverride.Value = value;
    }

    static readonly AsyncLocal<long?> limitOverride = new();

    /// <summary>
    /// Where <see cref="LimitOverride"/> came from, in the words a refusal shows after the limit (for example
    /// <c>--memory-limit 512M</c>); null: "the limit set by the caller". Belongs to the logical flow that sets it,
    /// as <see cref="LimitOverride"/> does.
    /// </summary>
    public static string? LimitOverrideSource
    {
        get => limitOverrideSource.Value;
        set => limitOverrideSource.Value = value;
    }

    static readonly AsyncLocal<string?> limitOverrideSource = new();

    /// <summary>
    /// What a refusal tells the user to do, in the caller's own options (for example "give a higher --memory-limit
    /// or --dtype float32"); null: <see cref="DefaultRemedies"/>. Belongs to the logical flow that sets it.
    /// </summary>
    public static string? Remedies
    {
        get => remedies.Value;
        set => remedies.Value = value;
    }

    static readonly AsyncLocal<string?> remedies = new();

    /// <summary>
    /// The device whose memory the default limit is a share of: null or the CPU, the host's; a CUDA device, its free
    /// memory (<see cref="Available()"/>). Belongs to the logical flow that sets it, as <see cref="LimitOverride"/>
    /// does; set it for a stretch of work with <see cref="OnDevice"/>. Modules set it themselves from their device.
    /// </summary>
    public static Device? Device
    {
        get => device.Value;
        set => device.Value = value;
    }

    static readonly AsyncLocal<Device?> device = new();

    /// <summary>
    /// Sets <see cref="Device"/> to <paramref name="on"/> for the logical flow until the result is disposed, which
    /// restores what was there.
    /// </summary>
    public static IDisposable OnDevice(Device? on)
    {
        var saved = Device;
        Device = on;
        return new Restore(() => Device = saved);
    }

    /// <summary>
    /// The most bytes one chunk of rows allocates by default (<see cref="ChunkBytes"/>, the estimate's tensors): a
    /// forward pass that runs in chunks takes the most rows that fit <see cref="Limit"/> and this cap, and a forward
    /// pass that fits whole but is over it runs in chunks of it too. Larger chunks are slower, not faster: their large
    /// tensors are page-faulted in afresh at every step (system CPU). On one thread the CPU time per row of
    /// <c>layers/peps.tn</c>, <c>layers/mps.tn</c> and <c>mpo-kernel.tn</c> was within 12 % of the fastest in chunks of
    /// 16 to 64 MiB, and from 128 MiB (mps, mpo-kernel) or 512 MiB (peps) up to 3.2 times it, mostly system CPU (the
    /// <c>chunks</c> benchmark, docs/memory.md).
    /// </summary>
    public const long DefaultChunkCap = 64L << 20;

    /// <summary>
    /// A cap on one chunk's bytes set by code, which wins over <see cref="DefaultChunkCap"/>; null (the default)
    /// leaves it there. <see cref="long.MaxValue"/> takes the most rows that fit the limit (the rule before the cap;
    /// the <c>chunks</c> benchmark compares the two). Belongs to the logical flow that sets it, as
    /// <see cref="LimitOverride"/> does.
    /// </summary>
    public static long? ChunkCapOverride
    {
        get => chunkCapOverride.Value;
        set => chunkCapOverride.Value = value;
    }

    static readonly AsyncLocal<long?> chunkCapOverride = new();

    /// <summary>The most bytes one chunk of rows allocates (<see cref="ChunkBytes"/>): <see cref="ChunkCapOverride"/>,
    /// else <see cref="DefaultChunkCap"/> on the CPU.
    /// On a GPU (<see cref="Device"/>) there is no default cap: a GPU runs the largest batch that fits fastest, and the
    /// page faults the cap avoids are the host's.</summary>
    public static long ChunkCap => ChunkCapOverride ?? (OnGpu(Device) ? long.MaxValue : DefaultChunkCap);

    /// <summary>The remedies a refusal names when the caller has set none (<see cref="Remedies"/>).</summary>
    public const string DefaultRemedies = "use smaller parameters or a smaller batch, or raise the limit";

    /// <summary>
    /// Sets <see cref="LimitOverride"/> (when <paramref name="limit"/> is not null) with its <paramref name="source"/>,
    /// and <see cref="Remedies"/>, for the logical flow until the result is disposed, which restores what was there:
    /// one command's refusals then name that command's options.
    /// </summary>
    public static IDisposable Advise(string remedies, long? limit = null, string? source = null)
    {
        var saved = (LimitOverride, LimitOverrideSource, Remedies);
        if (limit is not null)
            (LimitOverride, LimitOverrideSource) = (limit, source);
        Remedies = remedies;
        return new Restore(() => (LimitOverride, LimitOverrideSource, Remedies) = saved);
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>
    /// What sets the limit: <see cref="LimitOverride"/> and <see cref="EnvironmentVariable"/> as they stand, read without
    /// the available memory (cheap enough for every call). A module's guard judges again the batches it let
    /// through once this changes: a limit lowered after a batch fitted holds for that batch too.
    /// </summary>
    internal static (long? Override, string? Variable, string? Device, long Cap) Setting() =>
        (LimitOverride, Environment.GetEnvironmentVariable(EnvironmentVariable), OnGpu(Device) ? Device!.ToString() : null, ChunkCap);

    static bool OnGpu(Device? on) => on is { type: TorchSharp.DeviceType.CUDA };

    /// <summary>The current limit in bytes (read afresh on each call: the available memory changes).</summary>
    public static long Limit => Current().Bytes;

    /// <summary>The current limit in bytes and where it comes from, in words.</summary>
    public static (long Bytes, string Source) Current()
    {
        if (LimitOverride is { } set)
            return (set, LimitOverrideSource ?? "the limit set by the caller");
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            env = env.Trim();
            return ParseLimit(env, $"{EnvironmentVariable}={env}") ?? throw BadSetting(env);
        }
        var (bytes, source) = Available();
        return bytes is { } b
            ? ((long)(b * DefaultFraction), $"{DefaultFraction:P0} of {source}; set {EnvironmentVariable} to change it")
            : (long.MaxValue, "no limit (the available memory could not be read)");
    }

    /// <summary>
    /// Refuses <paramref name="bytes"/> for <paramref name="what"/> when they exceed <see cref="Limit"/> (or 2^63 − 1):
    /// throws <see cref="MemoryLimitException"/> with a message naming both figures. Call it before allocating.
    /// </summary>
    public static void Check(BigInteger bytes, string what) => Check(bytes, what, null);

    /// <summary>
    /// As <see cref="Check(BigInteger, string)"/>, the refusal saying <paramref name="advice"/> (for example "feed at
    /// most 1,000 rows per step") before the remedies.
    /// </summary>
    public static void Check(BigInteger bytes, string what, string? advice)
    {
        if (bytes.Sign <= 0)
            return;
        var (limit, source) = Current();
        if (bytes <= limit && bytes < long.MaxValue)
            return;
        throw Over(bytes, what, advice, limit, source);
    }

    static MemoryLimitException Over(BigInteger bytes, string what, string? advice, long limit, string source) =>
        new(what, bytes, limit, source,
            $"{what} needs {Format(bytes)}, over the memory limit of {Format(limit)} ({source}); " +
            (advice is null ? "" : advice + "; ") + (Remedies ?? DefaultRemedies));

    /// <summary>
    /// The bytes executing <paramref name="plan"/> in <paramref name="dtype"/> needs by the planner's estimate from
    /// the plan alone (<see cref="PlanView.Bytes(int)"/>: every step a matrix product, operands copied where their
    /// axes are out of the product's order). Forward: the most bytes alive at once without autograd. With
    /// <paramref name="training"/>: a training step (forward keeping what autograd needs, the loss, backward, and an
    /// Adam step). Where the network is known, <see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>
    /// describes what the backend actually runs.
    /// </summary>
    public static BigInteger Needed(PlanView plan, ScalarType dtype, bool training)
    {
        var estimate = plan.Bytes(ElementSize(dtype));
        return WithHeap(estimate.Inputs, training ? estimate.Training : estimate.Forward);
    }

    /// <summary>
    /// What glibc's heap adds to the tensors a call allocates, as a factor on them: 1.35, the middle (geometric) of
    /// what resident memory measured over the estimate's tensors under glibc's default heap on every example and
    /// layer, forward and a training step, 0.98 to 1.83 (the <c>memory</c> benchmark; <c>layers/mps.tn</c>'s training
    /// step varies from run to run and once measured 2.37; see <see cref="NativeHeap"/>). Not counted where freed
    /// large blocks are returned (<see cref="HeapPolicy.LargeBlocksReturned"/>), where the tensors alone measured 0.98
    /// to 1.31.
    /// </summary>
    public const double HeapAllowance = 1.35;

    /// <summary>
    /// The bytes a call needs by an estimate of <paramref name="tensors"/> bytes of tensors at its peak, of which
    /// <paramref name="held"/> were allocated before it (weights, consts, inputs): what the call allocates times
    /// <see cref="HeapAllowance"/> under glibc's heap as it is, the tensors alone where freed large blocks are returned.
    /// </summary>
    public static BigInteger WithHeap(BigInteger held, BigInteger tensors) =>
        NativeHeap.Policy == HeapPolicy.LargeBlocksReturned || tensors <= held
            ? tensors
            : held + (tensors - held) * (int)Math.Round(HeapAllowance * 100) / 100;

    /// <summary>
    /// The bytes a <see cref="NetworkModule"/> of <paramref name="spec"/> running <paramref name="plan"/> with
    /// <paramref name="options"/> needs (<see cref="ExecutedBytes"/>): the program the module runs, its lowered
    /// steps, kernel copies and autograd's kept tensors, simulated forward, and with <paramref name="training"/>
    /// through a training step (loss, backward, an Adam step).
    /// </summary>
    public static BigInteger Needed(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, bool training)
    {
        var estimate = ExecutedBytes.Estimate(spec, plan, options);
        return WithHeap(estimate.Inputs, training ? estimate.Training : estimate.Forward);
    }

    /// <summary>
    /// <see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/> of a training step, and the slices per
    /// group in which it runs checkpointed at the plan's planned batch under the limit now, or 0 where it records every
    /// slice (an unsliced plan, or one whose step so fits under <see cref="SliceCheckpointing.Auto"/>): both from one
    /// <see cref="ExecutedBytes.Checkpointing"/>, so that the group is worked out once.
    /// </summary>
    public static (BigInteger Needed, long Group) TrainingStep(NetworkSpec spec, PlanView plan, NetworkModuleOptions options)
    {
        var (estimate, group) = ExecutedBytes.Checkpointing(spec, plan, options, MemoryModel.AdamSlots, null, BatchSizes.Planned(spec, plan));
        return (WithHeap(estimate.Inputs, estimate.Training), group);
    }

    /// <summary>
    /// As <see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>, for the plan's program fed a batch of
    /// <paramref name="batch"/> rows (every dynamic index of that size) instead of the batch it was planned for.
    /// </summary>
    public static BigInteger Needed(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, bool training, long batch) =>
        Needed(spec, plan, options, training, Sizes(spec, batch));

    /// <summary>
    /// As <see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>, for the plan's program fed the rows of
    /// <paramref name="extents"/> (dynamic index id → extent; one it does not name at its declared size).
    /// </summary>
    public static BigInteger Needed(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, bool training, IReadOnlyDictionary<int, long> extents)
    {
        var estimate = ExecutedBytes.Estimate(spec, plan, options, MemoryModel.AdamSlots, null, extents);
        return WithHeap(estimate.Inputs, training ? estimate.Training : estimate.Forward);
    }

    /// <summary>
    /// A plan whose estimate (<see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>) fits <see cref="Limit"/>: <paramref name="plan"/> is called with
    /// <paramref name="elements"/> (null: no limit on intermediates) first; when that plan is over the limit it is
    /// called again with smaller limits on the largest intermediate (of one slice), a quarter of the bytes left after
    /// the inputs and then a quarter of that, up to six times, so that the planner slices to fit; where a smaller limit
    /// fits after a larger one did not, twice it is tried too and kept where it fits with fewer flops. Throws
    /// <see cref="MemoryLimitException"/> naming the figures when no plan fits (the inputs or the result alone are
    /// over the limit, no closed index is left to slice, or training keeps more than the limit whatever is sliced);
    /// where the network is known the refusal names the most rows that fit the best plan tried. A forward pass that
    /// fits only in chunks of rows is refused here: <see cref="FitPlan"/> accepts it.
    /// </summary>
    /// <param name="plan">Plans the network with a limit on intermediates in elements (null for none); may throw
    /// <see cref="TnException"/> when a limit cannot be met.</param>
    /// <param name="elements">A limit the caller sets on intermediates anyway, or null.</param>
    /// <param name="dtype">The element type the plan runs in.</param>
    /// <param name="training">Whether the module will be trained (kept activations and gradients count).</param>
    /// <param name="what">What is planned, for the message (for example "mps (batch 100)").</param>
    /// <param name="spec">The network the plan will run in a <see cref="NetworkModule"/>, when known: the estimate is
    /// then the module's program (<see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/>), else the
    /// plan's alone; its floor (<see cref="ExecutedBytes.Floor"/>) is checked before anything is planned.</param>
    /// <param name="batch">The sizes of the dynamic indices <paramref name="plan"/> plans for (null: the nominal sizes),
    /// for the floor.</param>
    public static PlanView Fit(Func<long?, PlanView> plan, long? elements, ScalarType dtype, bool training, string what, NetworkSpec? spec = null,
        BatchSizes? batch = null) =>
        Fitted(plan, elements, dtype, training, what, spec, batch, chunks: false).Plan;

    /// <summary>
    /// As <see cref="Fit"/>, for a module of <paramref name="spec"/> that is not built for training: where no plan's
    /// forward pass fits at the batch (every dynamic index at it), but the network's rows are independent along some
    /// dynamic index (<see cref="ChunkIndices"/>) and the forward pass fits in chunks of rows beside the whole inputs
    /// and result (<see cref="Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/>), the plan is
    /// kept and the forward pass runs in chunks. The plan is then one planned at the batch asked for: of the plans
    /// <see cref="Fit"/> tried (the first, then those planned under a limit on intermediates), the one of the fewest
    /// flops whose chunks fit, the one of fewer chunks on a tie. (The flops decide, not the number of chunks: greedy on
    /// <c>layers/peps.tn</c> at 3,000,000 rows under 1 GiB, a plan made under a limit on intermediates, of 1.25e10
    /// flops, ran its forward pass in 4 chunks in 27 to 30 s; the first plan, of 1.13e10 flops, in 9 chunks in 9.5 s.)
    /// With <paramref name="training"/> it is <see cref="Fit"/>.
    /// </summary>
    public static FittedPlan FitPlan(Func<long?, PlanView> plan, long? elements, ScalarType dtype, bool training, string what, NetworkSpec spec,
        BatchSizes? batch = null) =>
        Fitted(plan, elements, dtype, training, what, spec, batch, chunks: !training);

    /// The flops a plan executes: all its slices' where it is sliced.
    static BigInteger Flops(PlanView plan) => plan.IsSliced ? plan.SlicedFlops : plan.Flops;

    static FittedPlan Fitted(Func<long?, PlanView> plan, long? elements, ScalarType dtype, bool training, string what, NetworkSpec? spec,
        BatchSizes? batch, bool chunks)
    {
        // The heap the estimate is about (glibc's, or TN_HEAP=return): see NativeHeap.
        NativeHeap.Apply();
        var options = new NetworkModuleOptions { DType = dtype };
        var sizes = spec is null ? new Dictionary<int, long>() : BatchSizes.Extents(spec, batch);
        bool rows = sizes.Values.Any(n => n > 1);
        chunks = chunks && spec is not null && ChunkIndices(spec).Length > 0 && rows;
        if (spec is not null)
            CheckFloor(spec, sizes, dtype, training, what, chunks);
        BigInteger Needed(PlanView p) =>
            spec is null ? MemoryGuard.Needed(p, dtype, training) : MemoryGuard.Needed(spec, p, options, training);
        var first = plan(elements);
        var needed = Needed(first);
        var (limit, source) = Current();
        if (needed <= limit && needed < long.MaxValue)
            return new FittedPlan(first, []);
        int size = ElementSize(dtype);
        var inputs = first.Bytes(size).Inputs;
        var best = needed;
        var tried = new List<PlanView> { first };
        var bestPlan = first;
        string? why = null;
        var room = (new BigInteger(limit) - inputs) / (4 * size);
        if (elements is { } e && room > e)
            room = e / 4;
        // A plan within a room, or null where the planner cannot meet it.
        PlanView? TryPlan(BigInteger elements)
        {
            try { return plan((long)BigInteger.Min(elements, long.MaxValue)); }
            catch (TnException) { return null; }
        }
        for (int attempt = 0; attempt < 6 && room >= 1; attempt++, room /= 4)
        {
            if (room < first.ResultElements)
            {
                // The planner slices closed indices only, so no intermediate gets smaller than the result; its
                // refusal would name this step's limit in elements, which the user never set.
                var result = Bytes(first.ResultElements, dtype);
                var count = first.ResultElements.ToString("N0", CultureInfo.InvariantCulture);
                why = result > limit
                    ? $"the result alone is {count} elements ({Format(result)})"
                    : $"no intermediate can be sliced below the result's {count} elements (open indices are not sliced)";
                break;
            }
            PlanView sliced;
            try
            {
                sliced = plan((long)BigInteger.Min(room, long.MaxValue));
            }
            catch (TnException x)
            {
                // The planner's limit is in elements of one intermediate.
                why = (x.Diagnostics.FirstOrDefault(d => d.IsError)?.Message ?? x.Summary) + " (elements)";
                break;
            }
            var bytes = Needed(sliced);
            if (bytes <= limit)
            {
                // Between this room and the four times larger one that did not fit, twice this room may fit too and
                // slice less: what a plan holds across slices for reuse, which the planner's limit on one intermediate
                // does not bound, decides the fit (a 16 x 16 lattice under 100K fitted at 400 elements with 3.08e11
                // flops a call; at 800 it ran 4.15e10).
                if (attempt > 0 && TryPlan(room * 2) is { } between && Needed(between) <= limit && Flops(between) < Flops(sliced))
                    return new FittedPlan(between, []);
                return new FittedPlan(sliced, []);
            }
            tried.Add(sliced);
            if (bytes < best)
                (best, bestPlan) = (bytes, sliced);
        }
        string? rowsAdvice = null;
        if (chunks)
        {
            // Nothing fits whole: the rows of a forward pass run in chunks, with the plan of the fewest flops.
            FittedPlan? chunked = null;
            foreach (var candidate in tried)
            {
                var levels = Chunking(spec!, candidate, options, sizes);
                if (levels.Length > 0 && (chunked is null || Flops(candidate) < Flops(chunked.Plan) ||
                                          Flops(candidate) == Flops(chunked.Plan) && Chunks(levels) < Chunks(chunked.Chunks)))
                    chunked = new FittedPlan(candidate, levels);
            }
            if (chunked is not null)
                return chunked;
            rowsAdvice = NoChunk(spec!, bestPlan, options, sizes);
        }
        else if (spec is not null && rows)
            rowsAdvice = AtMost(MostRows(spec, bestPlan, options, training, sizes), training, Along(sizes, "with this plan"));
        var mode = training ? "training" : "the forward pass";
        throw new MemoryLimitException(what, best, limit, source,
            $"{what}: {mode} needs {Format(needed)} by the planner's estimate" +
            (best < needed ? $", {Format(best)} at best when sliced" : "") +
            $", over the memory limit of {Format(limit)} ({source})" +
            (why is not null ? $"; slicing cannot go further: {why}" : inputs > limit ? "; the inputs and weights alone are over it" : "") +
            (rowsAdvice is null ? "" : $"; {rowsAdvice}") +
            "; " + (Remedies ?? DefaultRemedies));
    }

    /// <summary>
    /// The dynamic (batch) indices along which the forward pass of <paramref name="spec"/> may run in chunks of rows, in
    /// the order they are declared: those that are output indices and that no weight or const carries. The result's
    /// rows at some values of such an index are then the network contracted with the inputs' rows at those values (the
    /// inputs that carry it narrowed, the others whole), whatever the plan (in log-scale too: the scales are per row).
    /// Not a summed one (every row of the result depends on all the rows fed), nor one that the members of an input
    /// family carry on different batch axes (one raw tensor is narrowed for them all).
    /// </summary>
    public static int[] ChunkIndices(NetworkSpec spec)
    {
        var inputs = spec.Tensors.Where(t => t.Role == TensorRole.Input).ToArray();
        int[] BatchAxes(TensorSpec t, int index) =>
            t.Legs.Where(l => spec.Indices[l].IsDynamic).Select((l, k) => (l, k)).Where(x => x.l == index).Select(x => x.k).ToArray();
        return spec.Indices.Where(i => i.IsDynamic && spec.Output.Contains(i.Id)).Select(i => i.Id)
            .Where(d => !spec.Tensors.Any(t => t.Role != TensorRole.Input && t.Legs.Contains(d)))
            .Where(d => inputs.GroupBy(t => t.Family).All(f => f.Select(t => string.Join(",", BatchAxes(t, d))).Distinct().Count() == 1))
            .ToArray();
    }

    /// <summary>Every dynamic index of <paramref name="spec"/> at <paramref name="rows"/> rows (index id → extent).</summary>
    public static IReadOnlyDictionary<int, long> Sizes(NetworkSpec spec, long rows) =>
        spec.Indices.Where(i => i.IsDynamic).ToDictionary(i => i.Id, _ => rows);

    /// <summary>
    /// The bytes the forward pass of <paramref name="plan"/>, its dynamic indices of <paramref name="sizes"/> (index
    /// id → extent), needs when it runs in chunks of rows along the <paramref name="levels"/>: the weights, consts and
    /// the whole inputs held, the whole result written chunk by chunk, and one chunk's program (each level's index at
    /// its chunk's rows, the other dynamic indices whole) beyond what it holds (its inputs are views of the whole
    /// ones), with the heap's allowance on what the call allocates (<see cref="WithHeap"/>).
    /// </summary>
    public static BigInteger ChunkNeeded(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes,
        IReadOnlyList<ChunkLevel> levels) =>
        ChunkNeeded(Whole(spec, options, sizes), spec, plan, options, sizes, levels);

    /// The bytes held whatever the chunk: the weights, consts and whole inputs, and the whole result.
    static (BigInteger Held, BigInteger Result) Whole(NetworkSpec spec, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes) =>
        (ExecutedBytes.Floor(spec, null, options, training: false, sizes: sizes).Inputs, ExecutedBytes.ResultBytes(spec, null, options.DType, sizes));

    /// <see cref="ChunkNeeded(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long}, IReadOnlyList{ChunkLevel})"/> with the whole call's bytes given.
    static BigInteger ChunkNeeded((BigInteger Held, BigInteger Result) whole, NetworkSpec spec, PlanView plan, NetworkModuleOptions options,
        IReadOnlyDictionary<int, long> sizes, IReadOnlyList<ChunkLevel> levels)
        => WithHeap(whole.Held, whole.Held + whole.Result + ChunkBytes(spec, plan, options, sizes, levels));

    /// <summary>
    /// The bytes one chunk of rows along the <paramref name="levels"/> allocates by the estimate: the tensors of its
    /// program (each level's index at its chunk's rows, the other dynamic indices of <paramref name="sizes"/> whole)
    /// beyond its inputs, which are views of the whole ones. No heap allowance: this is what <see cref="ChunkCap"/>
    /// caps.
    /// </summary>
    public static BigInteger ChunkBytes(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes,
        IReadOnlyList<ChunkLevel> levels)
    {
        var chunk = new Dictionary<int, long>(sizes);
        foreach (var level in levels)
            chunk[level.Index] = level.Chunk;
        var one = ExecutedBytes.Estimate(spec, plan, options, MemoryModel.AdamSlots, null, chunk);
        return one.Forward - one.Inputs;
    }

    /// <summary>
    /// How the forward pass of <paramref name="plan"/>, its dynamic indices of <paramref name="sizes"/> (index id →
    /// extent), runs in chunks of rows that fit <see cref="Limit"/> (<see cref="ChunkNeeded(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long}, IReadOnlyList{ChunkLevel})"/>):
    /// along one index of <see cref="ChunkIndices"/>, the other dynamic indices whole, in as many rows per chunk as fit
    /// both the limit and <see cref="ChunkCap"/> (<see cref="ChunkBytes"/>; one row at least), the index that makes the
    /// fewest chunks (the first declared on a tie), its rows then shared out evenly over those chunks
    /// (<see cref="ChunkLevel.Balanced"/>: a last chunk of a few rows would cost a whole step's overhead); where not even one row along any of them fits, along two, nested:
    /// one row at a time along the outer, as many rows as fit along the inner, the pair that makes the fewest chunks.
    /// Empty where no index may be chunked or not even that fits. (The cap: the largest chunk that fits is not the
    /// fastest; see <see cref="DefaultChunkCap"/>.)
    /// </summary>
    public static ChunkLevel[] Chunking(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes)
    {
        var eligible = ChunkIndices(spec).Where(i => sizes.TryGetValue(i, out var n) && n > 1).ToArray();
        if (eligible.Length == 0)
            return [];
        // The whole inputs and result once, not at every step of the bisections.
        var whole = Whole(spec, options, sizes);
        var cap = ChunkCap;
        ChunkLevel[] best = [];
        foreach (var outer in eligible.Prepend(-1))
        {
            foreach (var inner in eligible.Where(i => i != outer))
            {
                ChunkLevel[] Levels(long chunk) => outer < 0
                    ? [new ChunkLevel(inner, sizes[inner], chunk)]
                    : [new ChunkLevel(outer, sizes[outer], 1), new ChunkLevel(inner, sizes[inner], chunk)];
                long rows = Largest(sizes[inner], chunk => ChunkNeeded(whole, spec, plan, options, sizes, Levels(chunk)));
                if (rows > 1)
                    rows = Math.Min(rows, Math.Max(1, Largest(rows + 1, chunk => ChunkBytes(spec, plan, options, sizes, Levels(chunk)), cap)));
                if (rows > 0 && (best.Length == 0 || Chunks(Levels(rows)) < Chunks(best)))
                    best = Levels(ChunkLevel.Balanced(inner, sizes[inner], rows).Chunk);
            }
            // Nested only where no single index fits.
            if (outer < 0 && best.Length > 0)
                break;
        }
        return best;
    }

    /// <summary><see cref="Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/> with every dynamic index at <paramref name="rows"/> rows.</summary>
    public static ChunkLevel[] Chunking(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, long rows) =>
        Chunking(spec, plan, options, Sizes(spec, rows));

    /// <summary>The number of chunks a forward pass in chunks of <paramref name="levels"/> runs (exact).</summary>
    public static BigInteger Chunks(IReadOnlyList<ChunkLevel> levels) =>
        levels.Aggregate(BigInteger.One, (n, l) => n * l.Count);

    /// <summary>
    /// The chunks in words, as <c>tn run</c> prints them: <c>11 chunks of 96,814 rows</c> (along the one dynamic index
    /// of <paramref name="spec"/>), <c>10 chunks of 99,999 or 100,000 rows</c> (balanced, <see cref="ChunkLevel.Part"/>),
    /// <c>… along b</c> (one of several), <c>… of 1 row along b by 500 rows along c</c>.
    /// </summary>
    public static string Describe(NetworkSpec spec, IReadOnlyList<ChunkLevel> levels)
    {
        bool one = spec.Indices.Count(i => i.IsDynamic) == 1;
        string Rows(ChunkLevel l)
        {
            long shortest = l.Part(l.Count - 1).Rows, longest = l.Part(0).Rows;
            return $"{(shortest < longest ? $"{shortest:N0} or " : "")}{longest:N0} row{(longest == 1 ? "" : "s")}{(one ? "" : " along " + spec.Indices[l.Index].Name)}";
        }
        return $"{Chunks(levels):N0} chunks of {string.Join(" by ", levels.Select(Rows))}";
    }

    /// <summary>
    /// The most rows, below <paramref name="rows"/>, a call of <paramref name="plan"/> fits <see cref="Limit"/> at
    /// (<see cref="Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool, long)"/>, a training step with
    /// <paramref name="training"/>); 0 where not even one row fits.
    /// </summary>
    public static long MostRows(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, bool training, long rows) =>
        MostRows(spec, plan, options, training, Sizes(spec, rows));

    /// <summary>
    /// As <see cref="MostRows(NetworkSpec, PlanView, NetworkModuleOptions, bool, long)"/> for dynamic indices of
    /// <paramref name="extents"/> (index id → extent): the most rows, below the largest extent, that each index may
    /// have (those with fewer keep theirs) for a call to fit; 0 where not even one row along each fits.
    /// </summary>
    public static long MostRows(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, bool training, IReadOnlyDictionary<int, long> extents) =>
        Largest(extents.Values.DefaultIfEmpty(0).Max(),
            r => MemoryGuard.Needed(spec, plan, options, training, extents.ToDictionary(e => e.Key, e => Math.Min(e.Value, r))));

    /// The largest row count in [1, below) whose bytes fit the limit (or <paramref name="bytes"/>), by bisection (the
    /// bytes grow with the rows); 0 where one row does not fit.
    static long Largest(long below, Func<long, BigInteger> needed, long? bytes = null)
    {
        var limit = new BigInteger(Math.Min(bytes ?? Limit, long.MaxValue - 1));
        if (below <= 1 || needed(1) > limit)
            return 0;
        long lo = 1, hi = below - 1;
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (needed(mid) <= limit)
                lo = mid;
            else
                hi = mid - 1;
        }
        return lo;
    }

    /// <summary>The number of chunks of <paramref name="chunk"/> rows that <paramref name="rows"/> rows make.</summary>
    public static long Chunks(long rows, long chunk) => (rows + chunk - 1) / chunk;

    /// <summary>
    /// What qualifies the rows of <see cref="AtMost"/> for dynamic indices of <paramref name="extents"/>: "along each
    /// dynamic index" where their extents differ (<see cref="MostRows(NetworkSpec, PlanView, NetworkModuleOptions, bool, IReadOnlyDictionary{int, long})"/>
    /// caps each, those with fewer rows keep theirs), then <paramref name="with"/>.
    /// </summary>
    public static string? Along(IReadOnlyDictionary<int, long> extents, string? with = null) =>
        extents.Values.Distinct().Count() > 1 ? "along each dynamic index" + (with is null ? "" : " " + with) : with;

    /// <summary>
    /// What a refusal says of the rows that fit (<see cref="MostRows(NetworkSpec, PlanView, NetworkModuleOptions, bool, IReadOnlyDictionary{int, long})"/>): at most <paramref name="most"/> rows per step
    /// with <paramref name="training"/> (and why a step is not run in chunks), else per call; <paramref name="with"/>
    /// qualifies it (for example "with this plan").
    /// </summary>
    public static string AtMost(long most, bool training, string? with = null) =>
        most == 0
            ? $"not even one row fits{(training ? " a training step" : "")}{(with is null ? "" : " " + with)}"
            : training
                ? $"feed at most {most:N0} rows per step{(with is null ? "" : " " + with)} (a training step is not run in chunks: autograd keeps every chunk's activations)"
                : $"feed at most {most:N0} rows per call{(with is null ? "" : " " + with)}";

    /// <summary>
    /// What a refusal of a forward pass that could run in chunks (<see cref="ChunkIndices"/>) says: not even one row
    /// along each index that may be chunked (two at most, as <see cref="Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/> nests them) fits, and what that
    /// needs; null where none of them has more than one row (the rows fed cannot be cut along any).
    /// </summary>
    public static string? NoChunk(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, IReadOnlyDictionary<int, long> sizes)
    {
        var eligible = ChunkIndices(spec).Where(i => sizes.TryGetValue(i, out var n) && n > 1).Take(2).ToArray();
        if (eligible.Length == 0)
            return null;
        var levels = eligible.Select(i => new ChunkLevel(i, sizes[i], 1)).ToArray();
        var along = spec.Indices.Count(i => i.IsDynamic) == 1 ? ""
            : eligible.Length == 1 ? $" along {spec.Indices[eligible[0]].Name}"
            : $" along {spec.Indices[eligible[0]].Name} by one along {spec.Indices[eligible[1]].Name}";
        return $"not even a chunk of one row{along} fits beside the whole inputs and result ({Format(ChunkNeeded(spec, plan, options, sizes, levels))})";
    }

    /// <summary>
    /// Throws <see cref="MemoryLimitException"/> when what a call of <paramref name="spec"/> with its dynamic indices at
    /// <paramref name="sizes"/> (index id → extent; null: the declared sizes) needs whatever the plan (<see cref="ExecutedBytes.Floor"/>, with the heap's allowance as the estimate has it) is
    /// over the limit: no plan could fit, so the planner is not run (a large batch took it half a minute to say so).
    /// Where the forward pass may run in chunks of rows (<paramref name="chunks"/>, see <see cref="FitPlan"/>) its floor
    /// is at most the weights, consts and inputs and the result: the embedded inputs are then made chunk by chunk.
    /// </summary>
    public static void CheckFloor(NetworkSpec spec, IReadOnlyDictionary<int, long>? sizes, ScalarType dtype, bool training, string what, bool chunks = false)
    {
        var (inputs, floor) = ExecutedBytes.Floor(spec, null, new NetworkModuleOptions { DType = dtype }, training, sizes: sizes);
        if (chunks && !training)
            floor = BigInteger.Min(floor, inputs + ExecutedBytes.ResultBytes(spec, null, dtype, sizes));
        var needed = WithHeap(inputs, floor);
        var (limit, source) = Current();
        if (needed <= limit && needed < long.MaxValue)
            return;
        var counted = training
            ? "the weights, consts and inputs, the output and its loss, the weights' gradients and Adam's state"
            : floor > inputs && floor - inputs == ExecutedBytes.ResultBytes(spec, null, dtype, sizes)
                ? "the weights, consts and inputs, and the result"
                : "the weights, consts and inputs";
        throw new MemoryLimitException(what, needed, limit, source,
            $"{what}: {(training ? "training" : "the forward pass")} needs at least {Format(needed)} whatever the plan ({counted}), " +
            $"over the memory limit of {Format(limit)} ({source}), before any intermediate; " + (Remedies ?? DefaultRemedies));
    }

    /// <summary><see cref="Check(BigInteger, string)"/> for a byte count that fits a <c>long</c>.</summary>
    public static void Check(long bytes, string what) => Check(new BigInteger(bytes), what);

    /// <summary>The bytes of a tensor of <paramref name="shape"/> in <paramref name="dtype"/>, exact for any sizes.</summary>
    public static BigInteger Bytes(IEnumerable<long> shape, ScalarType dtype) =>
        shape.Aggregate(BigInteger.One, (n, d) => n * d) * ElementSize(dtype);

    /// <summary>The bytes of <paramref name="elements"/> elements of <paramref name="dtype"/>.</summary>
    public static BigInteger Bytes(BigInteger elements, ScalarType dtype) => elements * ElementSize(dtype);

    /// <summary>The size in bytes of one element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.ComplexFloat64 => 16,
        ScalarType.ComplexFloat32 => 8,
        _ => 8,
    };

    /// <summary>Bytes as text: exact below 1 KiB, else in KiB … EiB with the exact count; from 1024 EiB both in
    /// scientific notation (<c>3.53e+218 EiB (4.07e+236 bytes)</c>), from the logarithm, as a double overflows past
    /// 2^1024 and the exact count would run to hundreds of digits.</summary>
    public static string Format(BigInteger bytes)
    {
        if (bytes < 1024)
            return bytes.IsOne ? "1 byte" : $"{bytes} bytes";
        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if (bytes >= BigInteger.Pow(1024, units.Length + 1))
        {
            double log10 = BigInteger.Log10(bytes);
            return $"{Scientific(log10 - units.Length * Math.Log10(1024))} EiB ({Scientific(log10)} bytes)";
        }
        double value = (double)bytes;
        int u = -1;
        while (value >= 1024 && u < units.Length - 1)
        {
            value /= 1024;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {units[u]} ({bytes:N0} bytes)");
    }

    /// <summary>10^<paramref name="log10"/> as <c>m.mme+x</c>.</summary>
    static string Scientific(double log10)
    {
        double exponent = Math.Floor(log10);
        double mantissa = Math.Round(Math.Pow(10, log10 - exponent), 2);
        if (mantissa >= 10)
            (mantissa, exponent) = (mantissa / 10, exponent + 1);
        return string.Create(CultureInfo.InvariantCulture, $"{mantissa:0.##}e+{exponent:0}");
    }

    /// <summary>
    /// The memory available now, in bytes, and where the figure comes from. On a CUDA <see cref="Device"/>, the
    /// device's free memory (<c>cudaMemGetInfo</c>, as <c>torch.cuda.mem_get_info</c> reads it); where that cannot be
    /// read, the host's, and the source says so. Otherwise the memory available to this process; null where it
    /// cannot be read (not Linux, or neither the cgroup nor <c>/proc/meminfo</c> readable).
    /// </summary>
    public static (long? Bytes, string Source) Available()
    {
        if (OnGpu(Device))
        {
            int index = Device!.index < 0 ? 0 : (int)Device.index;
            if (DeviceMemory.Cuda(index) is var (free, total))
                return (free, $"{Format(free)} free of {Format(total)} on cuda:{index}");
            var (host, from) = HostAvailable();
            return (host, host is null ? "" : $"{from}, the host's: the free memory of cuda:{index} could not be read");
        }
        return HostAvailable();
    }

    static (long? Bytes, string Source) HostAvailable()
    {
        long? best = null;
        string source = "";
        void Take(long? bytes, string from)
        {
            if (bytes is { } b && (best is null || b < best))
                (best, source) = (Math.Max(0, b), from);
        }
        Take(MemAvailable(), "MemAvailable in /proc/meminfo");
        Take(CgroupRoom(), "the cgroup's memory limit less its usage");
        return (best, best is null ? "" : $"{Format(best.Value)} available ({source})");
    }

    static long? MemAvailable()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/meminfo"))
                return null;
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : null;
                }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// The smallest limit-less-usage over the process's cgroup (v2, the line 0::/path of /proc/self/cgroup) and its
    /// ancestors, or the v1 memory controller's; null where no limit is set or nothing is readable.
    static long? CgroupRoom()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/cgroup"))
                return null;
            long? room = null;
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length < 3)
                    continue;
                if (parts[0] == "0" && parts[1] == "")
                {
                    // v2: walk from the process's cgroup up to the root.
                    var dir = "/sys/fs/cgroup" + (parts[2] == "/" ? "" : parts[2]);
                    while (dir.StartsWith("/sys/fs/cgroup", StringComparison.Ordinal))
                    {
                        room = Smaller(room, Room(Path.Combine(dir, "memory.max"), Path.Combine(dir, "memory.current")));
                        if (dir == "/sys/fs/cgroup")
                            break;
                        dir = Path.GetDirectoryName(dir) ?? "";
                    }
                }
                else if (parts[1].Split(',').Contains("memory"))
                {
                    foreach (var dir in new[] { "/sys/fs/cgroup/memory" + parts[2], "/sys/fs/cgroup/memory" })
                        room = Smaller(room, Room(Path.Combine(dir, "memory.limit_in_bytes"), Path.Combine(dir, "memory.usage_in_bytes")));
                }
            }
            return room;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    static long? Smaller(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    static long? Room(string limitFile, string usageFile)
    {
        if (!File.Exists(limitFile) || !File.Exists(usageFile))
            return null;
        var limit = File.ReadAllText(limitFile).Trim();
        if (limit == "max" || !long.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var max) || max >= long.MaxValue / 2)
            return null; // no limit (v1 writes a huge number for none)
        return long.TryParse(File.ReadAllText(usageFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var used)
            ? max - used
            : null;
    }

    /// <summary>The forms of a memory limit (<see cref="ParseLimit"/>), as a message that refuses one names them.</summary>
    public const string LimitForms =
        "bytes (123456789, under 8 EiB), a size with K, M, G or T (16G) or a percentage of the available memory (50%)";

    /// <summary>
    /// A memory limit written as <see cref="EnvironmentVariable"/> and <c>tn contract --memory-limit</c> take it: bytes
    /// (<see cref="ParseBytes"/>) or a percentage over 0 and at most 100 of the memory available now
    /// (<see cref="Available()"/>, read here; 2^63 − 1 bytes where it cannot be read). Returns the bytes and where they
    /// come from, <paramref name="shownAs"/> (for example <c>--memory-limit 50%</c>) with the available memory for a
    /// percentage; null when the text is none of <see cref="LimitForms"/>.
    /// </summary>
    public static (long Bytes, string Source)? ParseLimit(string text, string shownAs)
    {
        var t = text.Trim();
        if (!t.EndsWith('%'))
            return ParseBytes(t) is { } bytes ? (bytes, shownAs) : null;
        if (!double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || !(percent > 0 && percent <= 100))
            return null;
        var (available, from) = Available();
        return (available is { } a ? (long)(a * (percent / 100)) : long.MaxValue, $"{shownAs} of {from}");
    }

    /// <summary>Bytes written as a count with an optional K, M, G or T suffix (powers of 1024, an optional <c>iB</c>/<c>B</c>);
    /// null when the text is not one, or is less than one byte (<c>0.5</c> would be a limit of nothing, as <c>0</c>).</summary>
    public static long? ParseBytes(string text)
    {
        var t = text.Trim();
        foreach (var tail in new[] { "iB", "B" })
            if (t.Length > tail.Length && t.EndsWith(tail, StringComparison.OrdinalIgnoreCase))
            {
                t = t[..^tail.Length];
                break;
            }
        int shift = t.Length == 0 ? 0 : char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0)
            t = t[..^1];
        // A whole count is read exactly: through a double, 9223372036854775807 (2^63 − 1) rounded to 2^63 and was refused.
        if (shift == 0 && long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var whole))
            return whole >= 1 ? whole : null;
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || !double.IsFinite(value))
            return null;
        double bytes = value * Math.Pow(2, shift);
        return bytes >= long.MaxValue || bytes < 1 ? null : (long)bytes;
    }

    static MemoryLimitException BadSetting(string value) =>
        new("the memory limit", 0, 0, EnvironmentVariable,
            $"{EnvironmentVariable}='{value}' is not a memory limit: give {LimitForms}");

    /// <summary>
    /// One line for an error raised in libtorch: its first line, without the C++ stack (<c>Exception raised from …</c>,
    /// <c>frame #…</c>) that TorchSharp appends; an allocation failure says so in words.
    /// </summary>
    public static string NativeMessage(Exception e)
    {
        var text = e.Message.Replace("\r", "");
        foreach (var marker in new[] { "\nException raised from", "Exception raised from ", "\nframe #", "frame #0" })
        {
            int k = text.IndexOf(marker, StringComparison.Ordinal);
            if (k >= 0)
                text = text[..k];
        }
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? e.GetType().Name;
        if (line.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase) || e is OutOfMemoryException)
            return $"out of memory: {line}";
        return line;
    }

    /// <summary>Whether an exception is an error raised in libtorch or an allocation failure (as opposed to a bug).</summary>
    public static bool IsNative(Exception e) => e is ExternalException or OutOfMemoryException;
}

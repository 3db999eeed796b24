using System.Numerics;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>The byte-size guard: its limit, its refusals before allocation, and libtorch errors as one line.</summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class MemoryGuardTests
{
    static MemoryGuardTests() => NativeLoader.EnsureLoaded();

    /// Runs a check under a limit set in code, and puts the limit back whatever the check does.
    static void WithLimit(long limit, Action check)
    {
        MemoryGuard.LimitOverride = limit;
        try
        {
            check();
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void The_limit_is_a_fraction_of_the_available_memory_unless_overridden()
    {
        var (available, _) = MemoryGuard.Available();
        Assert.NotNull(available); // Linux: MemAvailable is always there
        Assert.InRange(MemoryGuard.Limit, 1, available!.Value);
        WithLimit(12345, () =>
        {
            Assert.Equal(12345, MemoryGuard.Limit);
            var e = Assert.Throws<MemoryLimitException>(() => MemoryGuard.Check(12346, "a test buffer"));
            Assert.Equal(new BigInteger(12346), e.BytesNeeded);
            Assert.Equal(12345, e.Limit);
            Assert.Contains("a test buffer", e.Message);
            Assert.Contains("12,346 bytes", e.Message);
            MemoryGuard.Check(12345, "exactly the limit");
        });
    }

    [Fact]
    public void Where_a_room_fits_after_a_four_times_larger_one_did_not_twice_it_is_tried_and_kept_where_it_fits_with_fewer_flops()
    {
        // Greedy on a closed 6 x 6 lattice (bonds of 3) under limits of 1 to 48 KiB: the held results of reuse, which
        // the planner's limit on one intermediate does not bound, decide which rooms fit.
        var net = TnDsl.Api.Frontend.Load(Repo.Example("grid.tn"), Repo.Overrides("L=6,D=3"), null);
        int kept = 0;
        for (long kib = 1; kib <= 48; kib++)
        {
            var asked = new List<long>();
            var plans = new Dictionary<long, PlanView>();
            PlanView Plan(long? room)
            {
                if (room is { } r)
                    asked.Add(r);
                var plan = TnDsl.Planner.Plan(net, "greedy", null, 0, room);
                if (room is { } planned)
                    plans[planned] = plan;
                return plan;
            }
            PlanView? fitted = null;
            WithLimit(kib << 10, () =>
            {
                try { fitted = MemoryGuard.Fit(Plan, null, ScalarType.Float64, false, "grid"); }
                catch (MemoryLimitException) { }
            });
            if (fitted is null || asked.Count < 2)
                continue;
            Assert.True(MemoryGuard.Needed(fitted, ScalarType.Float64, false) <= kib << 10, $"{kib} KiB: the plan kept does not fit");
            // Rooms a quarter of the one before, the last fitting; then twice the last.
            var (fit, twice) = (asked[^2], asked[^1]);
            Assert.True(twice == 2 * fit, $"{kib} KiB: rooms asked {string.Join(", ", asked)}");
            static BigInteger Flops(PlanView p) => p.IsSliced ? p.SlicedFlops : p.Flops;
            bool better = plans.TryGetValue(twice, out var between) && MemoryGuard.Needed(between, ScalarType.Float64, false) <= kib << 10 &&
                          Flops(between) < Flops(plans[fit]);
            Assert.Same(better ? between : plans[fit], fitted);
            if (better)
                kept++;
        }
        Assert.True(kept > 0, "no limit kept the plan of twice the room: the case is not exercised");
    }

    [Theory]
    [InlineData("123456", 123456L)]
    [InlineData("16G", 16L << 30)]
    [InlineData("1.5KiB", 1536L)]
    [InlineData("500m", 500L << 20)]
    [InlineData("0", null)]
    // Under one byte: "0.5" was a limit of 0 bytes, where "0" is refused.
    [InlineData("0.5", null)]
    [InlineData("1e-9", null)]
    [InlineData("lots", null)]
    [InlineData("99999999T", null)]
    // 2^63 - 1 is read exactly: through a double it rounded to 2^63 and was refused; 2^63 is no long.
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("9223372036854775808", null)]
    [InlineData("7E", null)]
    public void Byte_sizes_parse_with_binary_suffixes(string text, long? bytes) =>
        Assert.Equal(bytes, MemoryGuard.ParseBytes(text));

    [Fact]
    public void A_limit_is_bytes_or_a_percentage_of_the_available_memory_as_TN_MEMORY_LIMIT_and_tn_contract_write_it()
    {
        Assert.Equal((16L << 30, "--memory-limit 16G"), MemoryGuard.ParseLimit(" 16G ", "--memory-limit 16G"));
        foreach (var text in new[] { "0%", "150%", "-5%", "%", "abc", "0" })
            Assert.Null(MemoryGuard.ParseLimit(text, text));
        // The available memory is read again by ParseLimit and moves between the reads: within 2% of it.
        var (available, _) = MemoryGuard.Available();
        var (bytes, source) = MemoryGuard.ParseLimit("50%", "--memory-limit 50%")!.Value;
        Assert.Equal(available is { } a ? a / 2.0 : long.MaxValue, bytes, tolerance: available is { } b ? b / 50.0 : 0);
        Assert.StartsWith("--memory-limit 50% of ", source);
        if (available is not null)
            Assert.Contains(" available (", source);
    }

    [Fact]
    public void Byte_counts_past_1024_EiB_are_written_in_scientific_notation_never_as_a_run_of_zeros_or_infinity()
    {
        Assert.Equal("1.5 KiB (1,536 bytes)", MemoryGuard.Format(1536));
        Assert.StartsWith("1023 EiB (", MemoryGuard.Format(BigInteger.Pow(2, 60) * 1023));
        Assert.Equal("1.02e+3 EiB (1.18e+21 bytes)", MemoryGuard.Format(BigInteger.Pow(2, 70)));
        // The forward pass of examples/mps.tn at n = 784 (2^784 float32 elements), and past a double's range.
        Assert.Equal("3.53e+218 EiB (4.07e+236 bytes)", MemoryGuard.Format(BigInteger.Pow(2, 786)));
        Assert.Equal("1.18e+313 EiB (1.36e+331 bytes)", MemoryGuard.Format(BigInteger.Pow(2, 1100)));
    }

    [Fact]
    public void Sizes_beyond_2_to_the_63_are_refused_even_without_a_limit()
    {
        WithLimit(long.MaxValue, () =>
        {
            Assert.Throws<MemoryLimitException>(() => MemoryGuard.Check(MemoryGuard.Bytes([1L << 62, 4], ScalarType.Float32), "a huge tensor"));
        });
    }

    [Fact]
    public void A_module_whose_weights_exceed_the_limit_is_refused_before_it_allocates()
    {
        // 2^34 float32 weights (64 GiB, initialised from 128 GiB of float64): refused with the figures, at once.
        var net = new NetBuilder("big");
        var a = net.Index("a", 1L << 17);
        var b = net.Index("b", 1L << 17);
        net.Weight("W", a, b);
        var spec = NetworkAdapter.FromFlat(net.Build(a, b));
        WithLimit(1L << 30, () =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var e = Assert.Throws<MemoryLimitException>(() => new NetworkModule(spec, [], new NetworkModuleOptions()));
            Assert.Contains("weight", e.Message);
            Assert.True(e.BytesNeeded >= new BigInteger(4) << 34);
            Assert.Equal(1L << 30, e.Limit);
        });
    }

    [Fact]
    public void A_plan_whose_peak_exceeds_the_limit_is_refused_by_the_builder()
    {
        // A plan of exactly 2^32 elements, which the old element guard let through.
        var net = new NetBuilder("exact");
        var a = net.Index("a", 1L << 16);
        var b = net.Index("b", 1L << 16);
        net.Weight("U", a);
        net.Weight("V", b);
        WithLimit(8L << 30, () =>
        {
            var view = net.Build(a, b);
            var e = Assert.Throws<MemoryLimitException>(() => NetworkModules.FromNetwork(view, new NetworkBuildOptions { Optimizer = "greedy" }));
            Assert.Contains("forward", e.Message);
            // The result alone is 2^32 float32 elements: nothing to slice, so the unsliced estimate is what is named.
            Assert.True(e.BytesNeeded >= new BigInteger(4) << 32);
            Assert.Equal(MemoryGuard.Needed(NetworkAdapter.FromFlat(view), NetworkAdapter.Plan(view, "greedy", null), new NetworkModuleOptions(), false), e.BytesNeeded);
        });
    }

    /// A closed 5 × 5 grid of bond dimension 8: tensors of at most 8^4 elements, intermediates up to 8^6.
    const string Grid = """
        network grid(L: int = 5, D: int = 8) {
          index h[x, y]: D for x in 0..L-2, y in 0..L-1
          index v[x, y]: D for x in 0..L-1, y in 0..L-2
          weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1)
            for x in 0..L-1, y in 0..L-1
          output ()
        }
        """;

    [Fact]
    public void A_plan_over_the_limit_is_sliced_to_fit_and_computes_the_same_value()
    {
        var options = new NetworkBuildOptions { Optimizer = "greedy", Module = new() { DType = ScalarType.Float64, Seed = 4 } };
        using var free = NetworkModules.FromText("grid.tn", Grid, null, options);
        Assert.False(free.ExecutionPlan.IsSliced);
        var needed = MemoryGuard.Needed(free.Spec, free.ExecutionPlan, options.Module, false);
        using var x = free.forward([]);
        WithLimit((long)(needed / 3), () =>
        {
            using var sliced = NetworkModules.FromText("grid.tn", Grid, null, options);
            Assert.True(sliced.ExecutionPlan.IsSliced);
            Assert.True(MemoryGuard.Needed(sliced.Spec, sliced.ExecutionPlan, options.Module, false) <= MemoryGuard.LimitOverride);
            // The module planned without the limit is now over it, and says how to fit it.
            var over = Assert.Throws<MemoryLimitException>(() => free.forward([]));
            Assert.StartsWith("grid (float64), with autograd (a training step), needs", over.Message);
            Assert.Contains("it was planned under a higher limit: build it again to fit its plan to this one", over.Message);
            // Fitted for the forward pass alone (NetworkModules' default): with autograd it is checked, and says so.
            var training = Assert.Throws<MemoryLimitException>(() => sliced.forward([]));
            Assert.Contains("its plan was fitted for the forward pass alone: call it under no_grad, or build it with Training = true", training.Message);
            using var noGrad = no_grad();
            using var y = sliced.forward([]);
            Assert.True(x.allclose(y, rtol: 1e-10), $"unsliced {x.item<double>()}, sliced {y.item<double>()}");
            // Where even slicing cannot fit (the weights alone are over the limit), the refusal names the figures.
            MemoryGuard.LimitOverride = 1L << 16;
            var e = Assert.Throws<MemoryLimitException>(() => NetworkModules.FromText("grid.tn", Grid, null, options));
            Assert.Equal(1L << 16, e.Limit);
            Assert.True(e.BytesNeeded > e.Limit);
        });
    }

    [Fact]
    public async Task A_limit_set_in_code_holds_for_the_flow_that_set_it_and_the_tasks_it_starts_not_for_others_beside_it()
    {
        // Commands run in process (the CLI tests) set the limit for their own run; one running beside them must not
        // see it (a `tn contract --memory-limit 100K` once refused a concurrent `tn train` this way).
        using var isSet = new ManualResetEventSlim();
        using var wasRead = new ManualResetEventSlim();
        long? inChild = null;
        var setter = Task.Run(() =>
        {
            MemoryGuard.LimitOverride = 12_345;
            try
            {
                inChild = Task.Run(() => MemoryGuard.LimitOverride).Result;
                isSet.Set();
                wasRead.Wait();
            }
            finally
            {
                MemoryGuard.LimitOverride = null;
            }
        });
        isSet.Wait();
        var beside = await Task.Run(() => MemoryGuard.LimitOverride);
        wasRead.Set();
        await setter;
        Assert.Equal(12_345, inChild);
        Assert.Null(beside);
        Assert.Null(MemoryGuard.LimitOverride);
    }

    [Fact]
    public void A_libtorch_error_becomes_one_line_without_the_CSharp_or_CPP_stack()
    {
        using var x = ones(2, 3);
        var e = Assert.ThrowsAny<Exception>(() => x.reshape(7, 5));
        Assert.True(MemoryGuard.IsNative(e));
        var line = MemoryGuard.NativeMessage(e);
        Assert.DoesNotContain("\n", line);
        Assert.DoesNotContain("frame #", line);
        Assert.DoesNotContain("Exception raised from", line);
        Assert.Contains("[7, 5]", line);
        Assert.StartsWith("out of memory: ", MemoryGuard.NativeMessage(new System.Runtime.InteropServices.ExternalException(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 137438953472 bytes.\nException raised from allocate_cpu at alloc_cpu.cpp:117\nframe #0: c10::Error")));
    }
}

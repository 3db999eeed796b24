using TnDsl.Api;

namespace TnDsl.Torch.Tests;

/// The memory limit the sliced-execution tests plan under: the output's own size (a dynamic index at `batch`, else at
/// its nominal size), so that every intermediate larger than the result must be sliced.
static class OutputLimit
{
    public static long Of(NetworkView net, long? batch = null) =>
        Math.Max(1, net.Output.Aggregate(1L, (a, l) => a * (net.Indices[l].IsDynamic && batch is { } b ? b : net.Indices[l].Size)));
}

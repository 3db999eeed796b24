using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.Cluster;

/// <summary>
/// The workers' opener of real jobs: <see cref="ContractionJob.FromBytes"/> (versioned, checksummed, lengths checked
/// before allocating) then <see cref="ContractionJobs.Open"/>, which compiles the job's own texts and replays its plan.
/// </summary>
public sealed class ContractionJobOpener : ISliceWorkOpener
{
    /// <inheritdoc/>
    public ISliceWork Open(byte[] job) => ContractionJobs.Open(ContractionJob.FromBytes(job));

    /// <inheritdoc/>
    /// <remarks>
    /// libtorch keeps one process-wide count but applies it to a thread (OpenMP's and MKL's per-thread settings) only
    /// when that thread first runs a parallel loop; a BLAS call before that runs with the library's default (every
    /// core), whose blocking rounds differently. So the count is set here, on the contracting thread, explicitly.
    /// </remarks>
    public void UseThreads(int threads) => set_num_threads(threads > 0 ? threads : get_num_threads());
}

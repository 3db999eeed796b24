using TnDsl.Torch;

namespace TnDsl.Cluster;

/// <summary>
/// The workers' opener of real jobs: <see cref="ContractionJob.FromBytes"/> (versioned, checksummed, lengths checked
/// before allocating) then <see cref="ContractionJobs.Open"/>, which compiles the job's own texts and replays its plan.
/// </summary>
public sealed class ContractionJobOpener : ISliceWorkOpener
{
    /// <inheritdoc/>
    public ISliceWork Open(byte[] job) => ContractionJobs.Open(ContractionJob.FromBytes(job));
}

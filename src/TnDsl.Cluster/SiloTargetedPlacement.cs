using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace TnDsl.Cluster;

/// <summary>
/// Places a grain on the silo its string key names (<see cref="SiloAddress.ToParsableString"/>), and refuses to place it
/// anywhere else: a worker of a silo that left the cluster is gone, not moved, so the client learns the silo is lost.
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class SiloTargetedPlacement : PlacementStrategy
{
    /// <summary>The one instance the attribute uses.</summary>
    public static SiloTargetedPlacement Singleton { get; } = new();
}

/// <summary>Marks a grain class for <see cref="SiloTargetedPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloTargetedPlacementAttribute() : PlacementAttribute(SiloTargetedPlacement.Singleton);

/// <summary>The director of <see cref="SiloTargetedPlacement"/>: the silo named by the key, if it is compatible and active.</summary>
public sealed class SiloTargetedPlacementDirector : IPlacementDirector
{
    /// <inheritdoc/>
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString();
        foreach (var silo in context.GetCompatibleSilos(target))
            if (silo.ToParsableString() == key) return Task.FromResult(silo);
        throw new OrleansException($"the worker silo {key} is not in the cluster");
    }
}

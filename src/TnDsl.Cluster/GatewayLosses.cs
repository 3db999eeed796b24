namespace TnDsl.Cluster;

/// <summary>
/// Counts the gateway connections a client has lost. Orleans' client does not fail a call whose gateway connection
/// closes: a request the gateway's silo had not yet passed on, or an answer on its way back through it, is lost, and
/// the call waits for the response timeout (12 h here). <see cref="SliceScheduler"/> sends such calls again when this
/// count grows. <see cref="ClusterHosting.AddTnClient"/> registers one per client.
/// </summary>
public sealed class GatewayLosses
{
    private readonly object gate = new();
    private int count;
    private TaskCompletionSource next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gateway connections lost since the client started.</summary>
    public int Count => Volatile.Read(ref count);

    /// <summary>Completes at the next loss.</summary>
    public Task Next
    {
        get { lock (gate) return next.Task; }
    }

    /// <summary>Orleans' handler of a change in the number of connected gateways: a lower number is a loss.</summary>
    public void OnGatewayCountChanged(object? sender, GatewayCountChangedEventArgs change)
    {
        if (change.NumberOfConnectedGateways >= change.PreviousNumberOfConnectedGateways) return;
        TaskCompletionSource reached;
        lock (gate)
        {
            count++;
            reached = next;
            next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        reached.SetResult();
    }
}

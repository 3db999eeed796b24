using System.Diagnostics;

namespace TnDsl.Torch.Tests;

/// <summary>
/// Runs code while another thread forces garbage collections and finalisers in a tight loop. TorchSharp's Tensor,
/// Scalar and Generator have finalisers that free the native object, and their methods pass a bare handle to libtorch:
/// a temporary that nothing references once its handle has been read can be freed in the middle of the native call.
/// Under this pressure such a race, rare in an ordinary run, happens within seconds (a crash or a wrong value).
/// </summary>
static class FinaliserPressure
{
    /// <summary>
    /// Runs <paramref name="round"/> again and again for <paramref name="duration"/> (at least once) while collections
    /// and finalisers run on another thread; returns the number of rounds and of completed collections.
    /// </summary>
    public static (int Rounds, long Collections) Run(TimeSpan duration, Action round)
    {
        int stop = 0;
        long collections = 0;
        var collector = new Thread(() =>
        {
            // Mostly young-generation collections: a temporary made in the current call is young, and a gen-0
            // collection is short enough to finish (and its finalisers to run) while a native call is still going.
            for (long n = 0; Volatile.Read(ref stop) == 0; n++)
            {
                GC.Collect(n % 16 == 15 ? GC.MaxGeneration : 0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true, Name = "finaliser pressure" };
        collector.Start();
        int rounds = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            do
            {
                round();
                rounds++;
            } while (clock.Elapsed < duration);
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            collector.Join();
        }
        return (rounds, Interlocked.Read(ref collections));
    }
}

namespace TnDsl.BornMachine;

/// <summary>
/// A small seeded random generator (Steele, Lea and Flood's SplitMix64) whose whole state is one <c>ulong</c>, so a
/// checkpoint can store it and a resumed run draws the same numbers as an uninterrupted one.
/// </summary>
public sealed class SplitMix64(ulong state)
{
    /// <summary>The current state; a generator made from it continues the same sequence.</summary>
    public ulong State { get; private set; } = state;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}

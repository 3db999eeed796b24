namespace TnDsl.Studies;

/// <summary>Small-sample statistics for comparing two networks' accuracies over seeds.</summary>
public static class Significance
{
    /// <summary>Sample standard deviation (n − 1 in the denominator; 0 for a single value).</summary>
    public static double StandardDeviation(IReadOnlyList<double> xs)
    {
        if (xs.Count < 2) return 0;
        double mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
    }

    /// <summary>Welch's t statistic (mean(a) − mean(b)) / √(s_a²/n_a + s_b²/n_b); ±∞ when both spreads are 0.</summary>
    public static double WelchT(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double diff = a.Average() - b.Average();
        double se = Math.Sqrt(Square(StandardDeviation(a)) / a.Count + Square(StandardDeviation(b)) / b.Count);
        return se == 0 ? (diff == 0 ? 0 : diff > 0 ? double.PositiveInfinity : double.NegativeInfinity) : diff / se;
    }

    /// <summary>
    /// Exact two-sided permutation p-value of the difference in means: the fraction of all ways to split the pooled
    /// values into groups of the original sizes whose |difference| is at least the observed one (observed split included).
    /// With 3 seeds each the smallest possible value is 2/20 = 0.1; with 5 each, 2/252 ≈ 0.008.
    /// </summary>
    public static double PermutationP(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        var pooled = a.Concat(b).ToArray();
        int n = pooled.Length, k = a.Count;
        if (n > 20) throw new ArgumentException("exact permutation test is limited to 20 values");
        double total = pooled.Sum();
        double observed = Math.Abs(a.Average() - b.Average());
        long hits = 0, splits = 0;
        for (int mask = 0; mask < 1 << n; mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) != k) continue;
            double sumA = 0;
            for (int i = 0; i < n; i++)
                if ((mask & (1 << i)) != 0) sumA += pooled[i];
            double diff = Math.Abs(sumA / k - (total - sumA) / (n - k));
            splits++;
            if (diff >= observed - 1e-12) hits++;
        }
        return (double)hits / splits;
    }

    static double Square(double x) => x * x;
}

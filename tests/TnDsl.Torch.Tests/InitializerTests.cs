using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class InitializerTests
{
    static InitializerTests() => NativeLoader.EnsureLoaded();

    static double[] Values(InitSpec init, long[] shape, ulong seed = 1)
    {
        using var g = new Generator(seed);
        using var t = Initializers.Make(init, shape, g);
        Assert.Equal(shape, t.shape);
        using var c = t.contiguous();
        return c.data<double>().ToArray();
    }

    static IEnumerable<long[]> MultiIndices(long[] shape)
    {
        long total = shape.Aggregate(1L, (a, b) => a * b);
        for (long flat = 0; flat < total; flat++)
        {
            var idx = new long[shape.Length];
            long r = flat;
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                idx[k] = r % shape[k];
                r /= shape[k];
            }
            yield return idx;
        }
    }

    [Fact]
    public void Copy_is_one_exactly_where_all_legs_agree()
    {
        long[] shape = [3, 3, 3, 2];
        var v = Values(new InitSpec.Copy(), shape);
        var expected = MultiIndices(shape).Select(i => i.All(x => x == i[0]) ? 1.0 : 0.0);
        Assert.Equal(expected, v);
    }

    [Fact]
    public void Identity_pairs_legs_from_the_outside_in_and_broadcasts_a_middle_leg()
    {
        long[] mps = [4, 2, 3];
        Assert.Equal(MultiIndices(mps).Select(i => i[0] == i[2] ? 1.0 : 0.0), Values(new InitSpec.Identity(), mps));
        long[] mpo = [3, 2, 2, 3];
        Assert.Equal(MultiIndices(mpo).Select(i => i[0] == i[3] && i[1] == i[2] ? 1.0 : 0.0), Values(new InitSpec.Identity(), mpo));
    }

    [Theory]
    [InlineData(new long[] { 3, 2, 4 })]
    [InlineData(new long[] { 2, 9 })]
    public void Orthogonal_is_an_isometry(long[] shape)
    {
        var v = Values(new InitSpec.Orthogonal(), shape);
        long cols = shape[^1], rows = v.Length / cols;
        bool tall = rows >= cols;
        long n = tall ? cols : rows, len = tall ? rows : cols;
        double At(long vec, long e) => tall ? v[e * cols + vec] : v[vec * cols + e];
        for (long a = 0; a < n; a++)
            for (long b = 0; b < n; b++)
            {
                double dot = 0;
                for (long e = 0; e < len; e++)
                    dot += At(a, e) * At(b, e);
                Assert.Equal(a == b ? 1.0 : 0.0, dot, 12);
            }
    }

    [Fact]
    public void Random_initialisers_follow_their_seed_and_parameters()
    {
        var normal = new InitSpec.Normal(2.0, 0.5);
        Assert.Equal(Values(normal, [50, 40], 3), Values(normal, [50, 40], 3));
        Assert.NotEqual(Values(normal, [50, 40], 3), Values(normal, [50, 40], 4));
        var n = Values(normal, [50, 40]);
        double mean = n.Average(), sd = Math.Sqrt(n.Select(x => (x - mean) * (x - mean)).Average());
        Assert.InRange(mean, 2.0 - 0.1, 2.0 + 0.1); // 2000 samples: the mean's standard error is 0.011
        Assert.InRange(sd, 0.45, 0.55);
        var u = Values(new InitSpec.Uniform(-1.0, 3.0), [2000]);
        Assert.All(u, x => Assert.InRange(x, -1.0, 3.0));
        Assert.InRange(u.Average(), 0.9, 1.1);
    }

    [Fact]
    public void A_sum_adds_its_parts()
    {
        var sum = Values(new InitSpec.Sum(new InitSpec.Identity(), new InitSpec.Constant(0.25)), [3, 3]);
        Assert.Equal(MultiIndices([3, 3]).Select(i => (i[0] == i[1] ? 1.0 : 0.0) + 0.25), sum);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>Random raw inputs for a module, shaped and valued as its inputs expect (benchmarks, <c>tn run</c>, tests).</summary>
public static class RandomInputs
{
    /// <summary>
    /// One raw tensor per input of <paramref name="module"/>, every batch axis of size <paramref name="batch"/>, on
    /// <paramref name="device"/>: class numbers 0..d-1 for a one-hot input, uniform values in [0, 1) for the other
    /// embeddings, standard normal values (in <paramref name="dtype"/>) for an input without embedding.
    /// </summary>
    public static Tensor[] Make(NetworkModule module, long batch, Generator generator, ScalarType dtype, Device? device = null) =>
        Make(module, MemoryGuard.Sizes(module.Spec, batch), generator, dtype, device);

    /// <summary>
    /// As <see cref="Make(NetworkModule, long, Generator, ScalarType, Device?)"/>, each batch axis of the extent
    /// <paramref name="extents"/> gives its dynamic index (index id → extent; <see cref="BatchSizes.Extents"/>), the
    /// declared size of one it does not name.
    /// </summary>
    public static Tensor[] Make(NetworkModule module, IReadOnlyDictionary<int, long> extents, Generator generator, ScalarType dtype, Device? device = null)
    {
        device ??= CPU;
        long[] Shape(InputInfo input) =>
            [.. input.BatchIndices.Select(l => extents.TryGetValue(l, out var n) ? n : module.Spec.Indices[l].Size), .. input.Shape];
        // Values are drawn in float64 and converted: both copies count.
        MemoryGuard.Check(module.Inputs.Aggregate(System.Numerics.BigInteger.Zero, (sum, input) =>
                sum + MemoryGuard.Bytes(Shape(input), ScalarType.Float64) + MemoryGuard.Bytes(Shape(input), dtype)),
            $"{module.Spec.Name}: random inputs for a batch of {BatchSizes.Describe(module.Spec, extents)}");
        using var scope = NewDisposeScope();
        var result = new List<Tensor>();
        foreach (var input in module.Inputs)
        {
            long[] shape = Shape(input);
            var cpu = input.Embedding switch
            {
                EmbeddingSpec.OneHot o => randint(0, o.D, shape, ScalarType.Int64, CPU, generator: generator),
                null => randn(shape, ScalarType.Float64, CPU, generator: generator).to_type(dtype),
                _ => rand(shape, ScalarType.Float64, CPU, generator: generator).to_type(dtype),
            };
            result.Add(cpu.to(device));
        }
        return result.Select(t => t.MoveToOuterDisposeScope()).ToArray();
    }
}

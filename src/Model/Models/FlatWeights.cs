using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace AkkaFed.Model.Models;

/// <summary>
/// The one place where a model's parameters become a flat <c>float[]</c> and back. Parameters are laid
/// out in <c>parameters()</c> order, each row-major. Everything outside src/Model sees only the array.
/// </summary>
public static class FlatWeights
{
    public static int Count(nn.Module module) =>
        checked((int)module.parameters().Sum(p => p.numel()));

    public static float[] Read(nn.Module module)
    {
        var weights = new float[Count(module)];
        Read(module, weights);
        return weights;
    }

    public static void Read(nn.Module module, Span<float> destination)
    {
        int offset = 0;
        foreach (var parameter in module.parameters())
        {
            var source = MemoryMarshal.Cast<byte, float>(parameter.bytes);
            source.CopyTo(destination.Slice(offset, source.Length));
            offset += source.Length;
        }
        if (offset != destination.Length)
        {
            throw new ArgumentException($"model has {offset} parameters, destination holds {destination.Length}");
        }
    }

    public static void Write(nn.Module module, ReadOnlySpan<float> weights)
    {
        int offset = 0;
        using var _ = no_grad();
        foreach (var parameter in module.parameters())
        {
            int length = checked((int)parameter.numel());
            if (offset + length > weights.Length)
            {
                throw new ArgumentException($"weights hold {weights.Length} values, the model needs more");
            }
            weights.Slice(offset, length).CopyTo(MemoryMarshal.Cast<byte, float>(parameter.bytes));
            offset += length;
        }
        if (offset != weights.Length)
        {
            throw new ArgumentException($"weights hold {weights.Length} values, the model has {offset} parameters");
        }
    }
}

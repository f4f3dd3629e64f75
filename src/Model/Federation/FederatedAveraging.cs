using System.Numerics;
using AkkaFed.Model.Compression;

namespace AkkaFed.Model.Federation;

/// <summary>How client updates are weighted in the average (TFF's <c>client_weighting</c>).</summary>
public enum ClientWeighting
{
    NumExamples,
    Uniform,
}

/// <summary>
/// A client's contribution to a round: its model delta, as it arrived (compressed or not: a <c>float[]</c> converts
/// without a copy), and how many examples produced it.
/// </summary>
public sealed record ClientUpdate(string ClientId, CompressedVector Delta, int Examples, double Loss = 0, double Accuracy = 0);

/// <summary>
/// Federated averaging's array arithmetic as pure functions over flat float arrays, like Flower's <c>aggregate.py</c>:
/// the server SGD step and the finiteness check. The weighted mean itself is <see cref="WeightedMean"/>, which
/// streams the updates into an exact <see cref="FixedPointSum"/> so that their order does not matter.
/// </summary>
public static class FederatedAveraging
{
    /// <summary>
    /// Server SGD on the averaged delta: TFF treats <c>-delta</c> as the gradient, so
    /// <c>w + lr * delta</c>; with lr = 1 this is plain weight averaging.
    /// </summary>
    public static float[] ApplyServerSgd(ReadOnlySpan<float> global, ReadOnlySpan<float> meanDelta, double learningRate)
    {
        if (global.Length != meanDelta.Length)
        {
            throw new ArgumentException($"global has {global.Length} values, delta {meanDelta.Length}");
        }
        var next = global.ToArray();
        MultiplyAdd(meanDelta, (float)learningRate, next);
        return next;
    }

    /// <summary>
    /// True when every value is finite: an update with NaN or infinity is rejected, never averaged. Vectorised:
    /// the server checks every update it receives, and one element at a time this took as long as aggregating.
    /// </summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // |NaN| <= MaxValue is false, as is |infinity| <= MaxValue.
            var largest = new Vector<float>(float.MaxValue);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                if (!Vector.LessThanOrEqualAll(Vector.Abs(new Vector<float>(values.Slice(i))), largest))
                {
                    return false;
                }
            }
        }
        for (; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary><c>accumulator += scale * values</c>, vectorised.</summary>
    private static void MultiplyAdd(ReadOnlySpan<float> values, float scale, Span<float> accumulator)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var factor = new Vector<float>(scale);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var sum = new Vector<float>(accumulator.Slice(i)) + new Vector<float>(values.Slice(i)) * factor;
                sum.CopyTo(accumulator.Slice(i));
            }
        }
        for (; i < values.Length; i++)
        {
            accumulator[i] += values[i] * scale;
        }
    }
}

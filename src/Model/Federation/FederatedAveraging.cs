using System.Numerics;

namespace AkkaFed.Model.Federation;

/// <summary>How client updates are weighted in the average (TFF's <c>client_weighting</c>).</summary>
public enum ClientWeighting
{
    NumExamples,
    Uniform,
}

/// <summary>A client's contribution to a round: its model delta and how many examples produced it.</summary>
public sealed record ClientUpdate(string ClientId, float[] Delta, int Examples, double Loss = 0, double Accuracy = 0);

/// <summary>
/// Federated averaging as pure functions over flat float arrays, like Flower's <c>aggregate.py</c>:
/// the weighted mean of the clients' deltas, then one server-optimizer step.
/// </summary>
public static class FederatedAveraging
{
    /// <summary>
    /// The weighted mean of <paramref name="deltas"/>. Summed in float in the order given, so only a fixed order
    /// gives bit-identical results; the server, whose updates arrive in any order, streams them into a
    /// <see cref="FixedPointSum"/> instead.
    /// </summary>
    public static float[] WeightedMean(IReadOnlyList<float[]> deltas, IReadOnlyList<double> weights)
    {
        if (deltas.Count == 0)
        {
            throw new ArgumentException("nothing to average", nameof(deltas));
        }
        if (deltas.Count != weights.Count)
        {
            throw new ArgumentException($"{deltas.Count} deltas but {weights.Count} weights", nameof(weights));
        }
        double total = 0;
        foreach (double weight in weights)
        {
            if (!(weight >= 0) || double.IsInfinity(weight))
            {
                throw new ArgumentException($"weight {weight} is not a finite non-negative number", nameof(weights));
            }
            total += weight;
        }
        if (total <= 0)
        {
            throw new ArgumentException("weights sum to zero", nameof(weights));
        }

        int length = deltas[0].Length;
        var mean = new float[length];
        for (int k = 0; k < deltas.Count; k++)
        {
            if (deltas[k].Length != length)
            {
                throw new ArgumentException($"delta {k} has {deltas[k].Length} values, delta 0 has {length}", nameof(deltas));
            }
            MultiplyAdd(deltas[k], (float)(weights[k] / total), mean);
        }
        return mean;
    }

    /// <summary>FedAvg's weights for the given updates.</summary>
    public static double[] WeightsOf(IReadOnlyList<ClientUpdate> updates, ClientWeighting weighting) =>
        updates.Select(update => weighting == ClientWeighting.Uniform ? 1.0 : update.Examples).ToArray();

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

    /// <summary>One weighted-FedAvg round: mean of the updates' deltas, then a server SGD step.</summary>
    public static float[] Aggregate(ReadOnlySpan<float> global, IReadOnlyList<ClientUpdate> updates,
        ClientWeighting weighting, double serverLearningRate)
    {
        var mean = WeightedMean(updates.Select(update => update.Delta).ToArray(), WeightsOf(updates, weighting));
        return ApplyServerSgd(global, mean, serverLearningRate);
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

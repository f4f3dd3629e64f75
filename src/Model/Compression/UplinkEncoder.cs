using AkkaFed.Model.Federation;
using AkkaFed.Model.Privacy;

namespace AkkaFed.Model.Compression;

/// <summary>
/// One client's side of the uplink, and the state it keeps across rounds: the error-feedback residual of top-k
/// (Stich et al. 2018; Karimireddy et al. 2019), the mass of earlier updates it has not sent yet. The client actor
/// that owns the client holds one; it lives as long as that actor does (a restarted node starts from none).
/// </summary>
/// <remarks>
/// Each update goes: clipped to the round's DP clip norm when there is one (clipping comes before compression),
/// plus the residual (top-k with error feedback), encoded; the residual becomes what the encoding left out
/// (the input minus its decoding). With any other codec the residual stays empty: stochastic rounding is unbiased.
/// </remarks>
public sealed class UplinkEncoder
{
    /// <summary>What has not been sent yet (top-k with error feedback); null when nothing is held back.</summary>
    public float[]? Residual { get; private set; }

    /// <summary>
    /// <paramref name="delta"/> (not modified) ready to send with <paramref name="options"/>, drawing stochastic
    /// rounding from <paramref name="seed"/>; clipped to <paramref name="clipNorm"/> first when it is set. A residual
    /// of another length (the model changed) is dropped. Throws <see cref="ArgumentException"/> for a delta that is
    /// not finite, leaving the residual as it was.
    /// </summary>
    public CompressedVector Encode(float[] delta, CompressionOptions options, int seed, double? clipNorm = null)
    {
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentNullException.ThrowIfNull(options);
        if (!FederatedAveraging.AllFinite(delta))
        {
            throw new ArgumentException("the update holds NaN or infinite values: it cannot be compressed", nameof(delta));
        }
        var input = clipNorm is { } norm ? DifferentialPrivacy.Clip(delta, norm) : delta;
        if (options.Codec != Codec.TopK || !options.ErrorFeedback)
        {
            Residual = null;
            return options.Encode(input, seed);
        }
        // The sum is ours to keep as the next residual: a copy, never the caller's delta.
        var sum = input == delta ? (float[])delta.Clone() : input;
        if (Residual is { } residual && residual.Length == sum.Length)
        {
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += residual[i];
            }
        }
        var encoded = options.Encode(sum, seed);
        foreach (int sent in encoded.Indices!)
        {
            sum[sent] = 0;
        }
        Residual = sum;
        return encoded;
    }

    /// <summary>Forgets the residual.</summary>
    public void Reset() => Residual = null;
}

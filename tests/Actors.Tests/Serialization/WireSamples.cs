using System.Runtime.InteropServices;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Serialization;

/// <summary>Messages and comparisons shared by the serialization specs.</summary>
internal static class WireSamples
{
    /// <summary>Parameters of the McMahan et al. CNN: the realistic size of one model update.</summary>
    public const int CnnFloats = 1_663_370;

    /// <summary>
    /// Values a naive codec gets wrong: NaN with a payload, signed zero, subnormals, the extremes, infinities.
    /// </summary>
    public static readonly float[] Awkward =
    [
        float.NaN, BitConverter.Int32BitsToSingle(0x7FC0_1234), BitConverter.Int32BitsToSingle(unchecked((int)0xFF80_0001)),
        float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.Epsilon, -float.Epsilon,
        float.MaxValue, float.MinValue, 1f / 3f, -123.456f,
    ];

    /// <summary>One of every message in the wire's table.</summary>
    public static readonly object[] EveryManifest =
    [
        new RegisterClient("c-1", 600),
        new ClientRegistered("c-1"),
        new FitRequest(1, new float[] { 1f, 2f }, new LocalTrainingOptions(), 7),
        new FitResult(1, "c-1", new float[] { 0.5f }, 600, 0.1, 0.9),
        new FitFailed(1, "c-1", "out of memory"),
        new Chunk(99, 0, 2, "FR", "/user/server#42", new byte[] { 1, 2, 3 }),
        new RunEvents.RoundReport(new RoundMetrics(3, true, 1.5, 0.5, 10, 9, 1, 0, 0, 0, 0, 2.5)),
        new RunEvents.Ended(8, null),
        new EvaluateRequest(2, new float[] { 1f, float.NaN }),
        new EvaluateResult(2, "c-1", 0.5, 0.75, 100),
        new EvaluateFailed(2, "c-1", "no data"),
        new IdentityProof("akka.ssl.tcp://akkafed@127.0.0.1:4053", [1, 2, 3], [4, 5]),
    ];

    /// <summary>A valid payload with a few bytes changed, a length or count field set to an extreme, cut short or extended.</summary>
    public static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = valid.ToArray();
        switch (random.Next(4))
        {
            case 0:
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }
                return bytes;
            case 1 when bytes.Length >= 5:
                int at = random.Next(1, bytes.Length - 3);
                int value = new[] { int.MaxValue, int.MinValue, -1, 0, 1, 0x10000 }[random.Next(6)];
                BitConverter.GetBytes(value).CopyTo(bytes, at);
                return bytes;
            case 2:
                return bytes[..random.Next(bytes.Length)];
            default:
                var extra = new byte[random.Next(1, 8)];
                random.NextBytes(extra);
                return [.. bytes, .. extra];
        }
    }

    public static float[] Weights(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }
        return values;
    }

    public static FitResult BigResult(int seed = 1) =>
        new(Round: 17, ClientId: "client-0042", Delta: Weights(CnnFloats, seed), Examples: 600, Loss: 0.25, Accuracy: 0.875);

    public static FitRequest BigRequest(int seed = 2) =>
        new(Round: 9, Weights: Weights(CnnFloats, seed), Options: new LocalTrainingOptions(5, 10, 0.05), Seed: 1234);

    /// <summary>Equal bit for bit, so NaN payloads and signed zeros count.</summary>
    public static void AssertBitExact(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan())),
            "the float arrays differ in at least one bit");
    }

    /// <summary>Equal as records, and so their vectors bit for bit (<see cref="AkkaFed.Model.Compression.CompressedVector"/> compares its parts).</summary>
    public static void AssertSame(FitResult expected, object actual)
    {
        var result = Assert.IsType<FitResult>(actual);
        Assert.Equal(expected, result);
    }

    public static void AssertSame(FitRequest expected, object actual)
    {
        var request = Assert.IsType<FitRequest>(actual);
        Assert.Equal(expected, request);
    }
}

using System.Runtime.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Serialization;

/// <summary>
/// Whatever a hostile peer sends, reading it raises a <see cref="SerializationException"/> or gives a message within
/// the wire's bounds: random bytes and mutations of a valid payload, for every manifest in the table.
/// </summary>
[Trait("Category", "Security")]
public sealed class WireFuzzSpec
{
    private static readonly object[] Samples = WireSamples.EveryManifest;

    private static object Read(byte[] payload, string manifest) => FederationWire.Deserialize(payload, manifest, buffers: null);

    private static void OnlySerializationExceptions(byte[] payload, string manifest)
    {
        try
        {
            Read(payload, manifest);
        }
        catch (SerializationException)
        {
        }
        catch (Exception e)
        {
            Assert.Fail($"{manifest} [{Convert.ToHexString(payload)}] raised {e.GetType().Name}: {e.Message}");
        }
    }

    [Fact]
    public void Every_manifest_has_a_sample()
    {
        Assert.Equal(FederationWire.Manifests.Order(), Samples.Select(FederationWire.Manifest).Order());
    }

    [Fact]
    public void Random_and_mutated_payloads_of_every_manifest_only_ever_raise_serialization_exceptions()
    {
        var random = new Random(12);
        foreach (var sample in Samples)
        {
            string manifest = FederationWire.Manifest(sample);
            var valid = FederationWire.Serialize(sample);
            for (int i = 0; i < 3_000; i++)
            {
                var bytes = new byte[random.Next(0, 96)];
                random.NextBytes(bytes);
                if (bytes.Length > 0)
                {
                    bytes[0] = FederationWire.Version;
                }
                OnlySerializationExceptions(bytes, manifest);
                OnlySerializationExceptions(WireSamples.Mutate(valid, random), manifest);
            }
        }
    }

    public static TheoryData<object, string> OutOfBounds() => new()
    {
        { new RegisterClient(new string('x', ClientIds.MaxLength + 1), 10), "ClientId has 129 characters" },
        { new FitResult(1, new string('é', ClientIds.MaxLength + 1), new float[] { 1f }, 1, 0, 0), "ClientId" },
        { new FitFailed(1, "c-1", new string('x', FederationWire.MaxReasonChars + 1)), "Reason" },
        { new EvaluateFailed(1, "c-1", new string('x', FederationWire.MaxReasonChars + 1)), "Reason" },
        { new RunEvents.Ended(1, new string('x', FederationWire.MaxRunTextChars + 1)), "Failure" },
        { new RunEvents.RoundReport(new RoundMetrics(1, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            FailureReason: new string('x', FederationWire.MaxRunTextChars))), "Metrics" },
        { new FitRequest(1, new float[] { 1f }, new LocalTrainingOptions(BatchSize: 0), 1), "batch-size" },
        { new FitRequest(1, new float[] { 1f }, new LocalTrainingOptions(Epochs: int.MaxValue), 1), "epochs" },
        { new FitRequest(1, new float[] { 1f }, new LocalTrainingOptions(LearningRate: double.NaN), 1), "client-lr" },
        { new FitRequest(1, new float[] { 1f }, new LocalTrainingOptions(ProximalMu: -1), 1), "proximal-mu" },
    };

    [Theory]
    [MemberData(nameof(OutOfBounds))]
    public void A_message_beyond_the_wires_bounds_is_refused_naming_the_field(object message, string named)
    {
        var e = Assert.Throws<SerializationException>(() => Read(FederationWire.Serialize(message), FederationWire.Manifest(message)));

        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Messages_at_the_bounds_are_read()
    {
        var register = new RegisterClient(new string('é', ClientIds.MaxLength), 10);
        var failed = new FitFailed(1, "c-1", new string('x', FederationWire.MaxReasonChars));

        Assert.Equal(register, Read(FederationWire.Serialize(register), "RC"));
        Assert.Equal(failed, Read(FederationWire.Serialize(failed), "FF"));
    }
}

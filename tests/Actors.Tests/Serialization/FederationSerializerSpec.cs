using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;
using static AkkaFed.Actors.Tests.Serialization.WireSamples;

namespace AkkaFed.Actors.Tests.Serialization;

public sealed class FederationSerializerSpec : TestKit
{
    public FederationSerializerSpec() : base(FederationSerialization.Config)
    {
    }

    private SerializerWithStringManifest Serializer => (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new ClientRegistered("x"));

    /// <summary>Through Akka's own serialization entry points, as remoting does it.</summary>
    private object RoundTrip(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        return Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }

    /// <summary>One of every message in the serializer's table.</summary>
    private static readonly object[] Samples = WireSamples.EveryManifest;

    public static TheoryData<object> EveryMessageType() => new(Samples);

    [Fact]
    public void Every_federation_message_type_has_a_sample_and_so_is_round_tripped_below()
    {
        // A message added to the protocol but not to the table fails here, not on a remote node.
        var protocol = typeof(IFederationMessage).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IFederationMessage).IsAssignableFrom(t))
            .Append(typeof(Chunk))
            .OrderBy(t => t.FullName)
            .ToArray();

        Assert.Equal(protocol, Samples.Select(s => s.GetType()).OrderBy(t => t.FullName));
    }

    [Theory]
    [MemberData(nameof(EveryMessageType))]
    public void Every_message_type_round_trips_through_akka(object message)
    {
        var back = RoundTrip(message);

        Assert.Equal(message.GetType(), back.GetType());
        // Float arrays and byte blocks compare by reference in records, so the bytes stand for the fields.
        Assert.Equal(Serializer.ToBinary(message), Serializer.ToBinary(back));
    }

    [Theory]
    [MemberData(nameof(EveryMessageType))]
    public void Akka_picks_the_federation_serializer_for_every_network_message(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);

        Assert.IsType<FederationSerializer>(serializer);
        Assert.Equal(FederationSerializer.Id, serializer.Identifier);
    }

    [Fact]
    public void Without_the_binding_Akka_would_fall_back_to_json()
    {
        // Guards the test above: it would pass vacuously if Akka picked this serializer by default.
        using var plain = Akka.Actor.ActorSystem.Create("plain");
        Assert.IsNotType<FederationSerializer>(plain.Serialization.FindSerializerFor(new ClientRegistered("x")));
    }

    [Fact]
    public void Evaluation_messages_round_trip()
    {
        var request = Assert.IsType<EvaluateRequest>(RoundTrip(new EvaluateRequest(4, new float[] { 1f, -0f, float.NaN })));
        Assert.Equal(4, request.Round);
        WireSamples.AssertBitExact([1f, -0f, float.NaN], request.Weights.ToFloats());
        Assert.Equal(new EvaluateResult(4, "c-9", 0.25, 0.875, 600), RoundTrip(new EvaluateResult(4, "c-9", 0.25, 0.875, 600)));
        Assert.Equal(new EvaluateFailed(4, "c-9", "boom"), RoundTrip(new EvaluateFailed(4, "c-9", "boom")));
    }

    [Fact]
    public void Run_events_round_trip_with_missing_metrics_and_failures()
    {
        var failed = new RoundMetrics(4, false, double.NaN, double.NaN, 3, 1, 2, 1, 0, 0, 0, 30.0, "1 updates by the deadline")
        {
            Test = new Evaluation(2.25, 0.125, 2000),
            BytesSent = 26_614_096,
            BytesReceived = 6_653_524,
        };

        var report = Assert.IsType<RunEvents.RoundReport>(RoundTrip(new RunEvents.RoundReport(failed)));

        Assert.Equal(failed, report.Metrics);
        Assert.Equal(failed.Test, report.Metrics.Test);
        Assert.Equal(new RunEvents.Ended(8, null), RoundTrip(new RunEvents.Ended(8, null)));
        Assert.Equal(new RunEvents.Ended(3, "too many failures"), RoundTrip(new RunEvents.Ended(3, "too many failures")));
        Assert.Equal(new RunEvents.Ended(3, ""), RoundTrip(new RunEvents.Ended(3, "")));
    }

    [Fact]
    public void Small_messages_round_trip_with_non_ascii_client_ids()
    {
        const string id = "клиент-東京-🚀-ñ";
        Assert.Equal(new RegisterClient(id, 123), RoundTrip(new RegisterClient(id, 123)));
        Assert.Equal(new RegisterClient("", int.MinValue), RoundTrip(new RegisterClient("", int.MinValue)));
        Assert.Equal(new ClientRegistered(id), RoundTrip(new ClientRegistered(id)));
        Assert.Equal(new FitFailed(-1, id, "λ failed\nline two"), RoundTrip(new FitFailed(-1, id, "λ failed\nline two")));
        Assert.Equal(new FitFailed(int.MaxValue, "", ""), RoundTrip(new FitFailed(int.MaxValue, "", "")));
    }

    [Fact]
    public void Fit_messages_round_trip_with_empty_and_awkward_float_values()
    {
        var options = new LocalTrainingOptions(Epochs: 3, BatchSize: 17, LearningRate: 0.0123456789);
        AssertSame(new FitRequest(4, Array.Empty<float>(), options, -5), RoundTrip(new FitRequest(4, Array.Empty<float>(), options, -5)));
        AssertSame(new FitRequest(4, Awkward, options, 5), RoundTrip(new FitRequest(4, Awkward, options, 5)));

        var empty = new FitResult(2, "ü", Array.Empty<float>(), 0, double.NaN, double.NegativeInfinity);
        AssertSame(empty, RoundTrip(empty));
        var awkward = new FitResult(2, "c", Awkward, 60, -0.0, double.Epsilon);
        var back = Assert.IsType<FitResult>(RoundTrip(awkward));
        AssertSame(awkward, back);
        Assert.True(double.IsNegative(back.Loss), "negative zero loss keeps its sign");
    }

    [Fact]
    public void Chunks_round_trip()
    {
        var chunk = new Chunk(long.MinValue, 3, 4, "FQ", "/user/client-00007#-12", new byte[] { 0, 255, 7 });
        var back = Assert.IsType<Chunk>(RoundTrip(chunk));
        Assert.Equal((chunk.TransferId, chunk.Index, chunk.Count, chunk.Manifest, chunk.Recipient),
            (back.TransferId, back.Index, back.Count, back.Manifest, back.Recipient));
        Assert.Equal(chunk.Data.ToArray(), back.Data.ToArray());
    }

    [Fact]
    public void A_full_cnn_update_round_trips_bit_exact_in_four_bytes_per_float()
    {
        var result = BigResult();
        var request = BigRequest();

        var resultBytes = Serializer.ToBinary(result);
        var requestBytes = Serializer.ToBinary(request);

        // version, round, id length + "client-0042", codec, count + floats, examples, loss, accuracy
        Assert.Equal(1 + 4 + 4 + 11 + 1 + 4 + 4 * CnnFloats + 4 + 8 + 8, resultBytes.Length);
        // version, round, codec, count + floats, epochs, batch size, learning rate, proximal mu, seed,
        // then the uplink: codec, block size, top-k fraction, error feedback, clip norm
        Assert.Equal(1 + 4 + 1 + 4 + 4 * CnnFloats + 4 + 4 + 8 + 8 + 4 + 1 + 4 + 8 + 1 + 8, requestBytes.Length);
        AssertSame(result, Serializer.FromBinary(resultBytes, "FR"));
        AssertSame(request, Serializer.FromBinary(requestBytes, "FQ"));
    }

    [Fact]
    public void The_layout_is_little_endian_with_a_version_byte_and_length_prefixed_utf8()
    {
        Assert.Equal("RC", Serializer.Manifest(new RegisterClient("é", 258)));
        Assert.Equal(new byte[] { 2, 2, 0, 0, 0, 0xC3, 0xA9, 2, 1, 0, 0 }, Serializer.ToBinary(new RegisterClient("é", 258)));

        var bytes = Serializer.ToBinary(new FitResult(1, "", new float[] { 1.5f, -2f }, 3, 0.5, 0.25));
        // Version, round, the empty id, the delta's codec (0: raw float32), its length and values, the examples.
        Assert.Equal(new byte[] { 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0, 3, 0, 0, 0 }, bytes[..26]);
        Assert.Equal(0.5, BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(26)));
        Assert.Equal(0.25, BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(34)));
    }

    /// <summary>
    /// The bytes of every whole message as format version 2 writes them (version 1 had no codec byte before a
    /// vector and no uplink compression in a fit request): a rewrite of the codec must not move one.
    /// </summary>
    public static TheoryData<string, IFederationMessage, string> PinnedLayouts() => new()
    {
        { "RC", new RegisterClient("c-1", 600), "0203000000632D3158020000" },
        { "CR", new ClientRegistered("c-1"), "0203000000632D31" },
        { "FQ", new FitRequest(1, new float[] { 1f, 2f }, new LocalTrainingOptions(), 7),
            "02" + "01000000" + "00" + "02000000" + "0000803F" + "00000040" + "01000000" + "14000000" + "7B14AE47E17A943F" + "0000000000000000" + "07000000"
            + "00" + "00040000" + "7B14AE47E17A843F" + "01" + "0000000000000000" },
        { "FR", new FitResult(1, "c-1", new float[] { 0.5f }, 600, 0.1, 0.9), "020100000003000000632D3100010000000000003F580200009A9999999999B93FCDCCCCCCCCCCEC3F" },
        { "FF", new FitFailed(1, "c-1", "out of memory"), "020100000003000000632D310D0000006F7574206F66206D656D6F7279" },
        { "RE", new RunEvents.Ended(8, null), "02080000000000000000" },
        { "RE", new RunEvents.Ended(3, "too many failures"), "02030000000111000000746F6F206D616E79206661696C75726573" },
        { "EQ", new EvaluateRequest(2, new float[] { 1f, float.NaN }), "020200000000020000000000803F0000C0FF" },
        { "ER", new EvaluateResult(2, "c-1", 0.5, 0.75, 100), "020200000003000000632D31000000000000E03F000000000000E83F64000000" },
        { "EF", new EvaluateFailed(2, "c-1", "no data"), "020200000003000000632D31070000006E6F2064617461" },
    };

    [Theory]
    [MemberData(nameof(PinnedLayouts))]
    public void Every_whole_message_keeps_its_bytes_on_the_wire(string manifest, IFederationMessage message, string hex)
    {
        Assert.Equal(manifest, Serializer.Manifest(message));
        Assert.Equal(hex, Convert.ToHexString(Serializer.ToBinary(message)));
        Assert.Equal(message.GetType(), Serializer.FromBinary(Convert.FromHexString(hex), manifest).GetType());
    }

    [Fact]
    public void A_round_report_keeps_its_bytes_on_the_wire()
    {
        // Its metrics travel as JSON, too long to pin as hex: the length and a hash of the bytes stand for them.
        var report = new RunEvents.RoundReport(new RoundMetrics(3, true, 1.5, 0.5, 10, 9, 1, 0, 0, 0, 0, 2.5));

        var bytes = Serializer.ToBinary(report);

        Assert.Equal("RR", Serializer.Manifest(report));
        Assert.Equal(284, bytes.Length);
        Assert.Equal("ce2be5562e2a6ea38f1387f67102b9a8a6f22d4571bdf5479472060804f6286e",
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant());
    }

    [Fact]
    public void Manifests_are_short_and_distinct()
    {
        var manifests = Samples.Select(Serializer.Manifest).ToList();
        Assert.All(manifests, m => Assert.Equal(2, m.Length));
        Assert.Equal(manifests.Count, manifests.Distinct().Count());
    }

    [Fact]
    public void Serializing_a_message_with_a_missing_field_names_the_field()
    {
        var e = Assert.Throws<SerializationException>(() => Serializer.ToBinary(new FitResult(1, null!, Array.Empty<float>(), 1, 0, 0)));
        Assert.Contains("FitResult.ClientId is null", e.Message);
        e = Assert.Throws<SerializationException>(() => Serializer.ToBinary(new FitRequest(1, null!, new LocalTrainingOptions(), 1)));
        Assert.Contains("FitRequest.Weights is null", e.Message);
        e = Assert.Throws<SerializationException>(() => Serializer.ToBinary(new FitFailed(1, "c", "\ud800")));
        Assert.Contains("FitFailed.Reason is not valid Unicode", e.Message);
        e = Assert.Throws<SerializationException>(() => Serializer.ToBinary(new ClientsAvailable(3)));
        Assert.Contains("ClientsAvailable", e.Message);
    }

    private SerializationException Malformed(byte[] payload, string manifest) =>
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(payload, manifest));

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static byte[] I32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    [Fact]
    public void An_unknown_manifest_is_named()
    {
        var e = Malformed([FederationWire.Version], "XX");
        Assert.Contains("unknown manifest 'XX'", e.Message);
        // The list of what is known comes from the table, so it names every message.
        Assert.All(Samples.Select(Serializer.Manifest), manifest => Assert.Contains($" {manifest}", e.Message));
        // The recipient-less chunk of before is no longer read.
        Assert.Contains("unknown manifest 'CH'", Malformed([FederationWire.Version], "CH").Message);
    }

    [Fact]
    public void An_empty_payload_is_truncated()
    {
        var e = Malformed([], "FR");
        Assert.Contains("FitResult", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("format version", e.Message);
    }

    [Fact]
    public void Another_format_version_is_refused()
    {
        var bytes = Serializer.ToBinary(new ClientRegistered("c"));
        bytes[0] = 1; // the version before compression
        var e = Malformed(bytes, "CR");
        Assert.Contains("ClientRegistered", e.Message);
        Assert.Contains("unsupported format version 1", e.Message);
    }

    [Fact]
    public void Every_truncation_of_every_message_is_reported_as_truncated()
    {
        foreach (var message in Samples)
        {
            var bytes = Serializer.ToBinary(message);
            var manifest = Serializer.Manifest(message);
            for (int length = 0; length < bytes.Length; length++)
            {
                var e = Malformed(bytes[..length], manifest);
                Assert.Contains("truncated", e.Message);
                Assert.Contains(message.GetType().Name, e.Message);
            }
        }
    }

    [Fact]
    public void Trailing_bytes_are_refused()
    {
        var bytes = Concat(Serializer.ToBinary(new FitResult(1, "c", new float[] { 1f }, 1, 0, 0)), [0]);
        var e = Malformed(bytes, "FR");
        Assert.Contains("FitResult", e.Message);
        Assert.Contains("1 trailing bytes", e.Message);
    }

    [Fact]
    public void A_negative_string_length_is_refused()
    {
        var e = Malformed(Concat([FederationWire.Version], I32(-1)), "CR");
        Assert.Contains("ClientRegistered", e.Message);
        Assert.Contains("ClientId has negative length -1", e.Message);
    }

    [Fact]
    public void An_oversized_string_length_is_refused_before_allocating()
    {
        var e = Malformed(Concat([FederationWire.Version], I32(int.MaxValue), [65]), "CR");
        Assert.Contains("ClientId length 2147483647 exceeds the limit", e.Message);
        e = Malformed(Concat([FederationWire.Version], I32(1), I32(1), [65], I32(int.MaxValue), [65]), "FF");
        Assert.Contains("Reason length 2147483647 exceeds the limit", e.Message);
        e = Malformed(Concat([FederationWire.Version], I32(300), [65, 66, 67]), "CR");
        Assert.Contains("ClientId claims 300", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void A_negative_or_oversized_float_count_is_refused_before_allocating()
    {
        var prefix = Concat([FederationWire.Version], I32(5), I32(1), [(byte)'c'], [(byte)Codec.None]);
        var e = Malformed(Concat(prefix, I32(-7), new byte[24]), "FR");
        Assert.Contains("Delta has negative length -7", e.Message);
        e = Malformed(Concat(prefix, I32(int.MaxValue), new byte[24]), "FR");
        Assert.Contains("Delta length 2147483647 exceeds the limit", e.Message);
        e = Malformed(Concat(prefix, I32(1_000_000), new byte[24]), "FR");
        Assert.Contains("Delta claims 1000000 × 4 bytes", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        var e = Malformed(Concat([FederationWire.Version], I32(2), [0xC3, 0x28]), "CR");
        Assert.Contains("ClientId is not valid UTF-8", e.Message);
    }

    [Fact]
    public void A_chunk_with_a_bad_index_or_count_is_refused()
    {
        var e = Malformed(Serializer.ToBinary(new Chunk(1, 0, 0, "FR", "/user/a", new byte[] { 1 })), "CK");
        Assert.Contains("Chunk", e.Message);
        Assert.Contains("Count 0 must be at least 1", e.Message);
        e = Malformed(Serializer.ToBinary(new Chunk(1, 2, 2, "FR", "/user/a", new byte[] { 1 })), "CK");
        Assert.Contains("Index 2 is outside 0..1", e.Message);
        e = Malformed(Serializer.ToBinary(new Chunk(1, -1, 2, "FR", "/user/a", new byte[] { 1 })), "CK");
        Assert.Contains("Index -1 is outside 0..1", e.Message);
    }

    [Fact]
    public void Random_garbage_only_ever_raises_serialization_exceptions()
    {
        var random = new Random(7);
        var manifests = Samples.Select(Serializer.Manifest).ToArray();
        for (int i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (bytes.Length > 0 && random.Next(2) == 0)
            {
                bytes[0] = 1;
            }
            var manifest = manifests[i % manifests.Length];
            try
            {
                Serializer.FromBinary(bytes, manifest);
            }
            catch (SerializationException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{manifest} [{Convert.ToHexString(bytes)}] raised {e.GetType().Name}: {e.Message}");
            }
        }
    }
}

using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Serialization;

/// <summary>
/// Compressed weights and updates on the wire: every codec round-trips as it is, its bytes are its payload's (never
/// expanded to float32), and a malformed compressed vector is refused by the serializer, before any actor sees it.
/// </summary>
public sealed class CompressedWireSpec : TestKit
{
    private const int Length = 2_500; // three blocks of 1,024, the last one short
    private const string Id = "c-1";

    public CompressedWireSpec() : base(FederationSerialization.Config)
    {
    }

    private SerializerWithStringManifest Serializer => (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new ClientRegistered("x"));

    private static float[] Values()
    {
        var random = new Random(5);
        return Enumerable.Range(0, Length).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.03f).ToArray();
    }

    private static CompressedVector Encoded(Codec codec) => new CompressionOptions(codec).Encode(Values(), seed: 17);

    public static TheoryData<Codec> Codecs() => new(Enum.GetValues<Codec>());

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Every_codec_round_trips_through_the_serializer_bit_for_bit_and_travels_as_its_payload(Codec codec)
    {
        var sent = new FitResult(3, Id, Encoded(codec), 600, 0.5, 0.25);

        var bytes = Serializer.ToBinary(sent);
        var back = Assert.IsType<FitResult>(Serializer.FromBinary(bytes, Serializer.Manifest(sent)));

        Assert.Equal(codec, back.Delta.Codec);
        Assert.Equal(Length, back.Delta.Length);
        WireSamples.AssertBitExact(sent.Delta.ToFloats(), back.Delta.ToFloats());
        Assert.Equal(bytes, Serializer.ToBinary(back));
        // What travels is the codec's data and a few dozen bytes of fields and length prefixes: never float32.
        long payload = new CompressionOptions(codec).PayloadBytes(Length);
        Assert.InRange(bytes.Length - payload, 0, 64);
    }

    [Fact]
    public void A_fit_request_carries_compressed_weights_the_uplink_compression_and_the_clip_norm()
    {
        var uplink = new CompressionOptions(Codec.TopK, BlockSize: 256, TopKFraction: 0.05, ErrorFeedback: false);
        var sent = new FitRequest(4, Encoded(Codec.Int8), new LocalTrainingOptions(), 9) { Uplink = uplink, ClipNorm = 0.7 };

        var back = Assert.IsType<FitRequest>(Serializer.FromBinary(Serializer.ToBinary(sent), "FQ"));

        Assert.Equal(uplink, back.Uplink);
        Assert.Equal(0.7, back.ClipNorm);
        Assert.Equal(Codec.Int8, back.Weights.Codec);
        WireSamples.AssertBitExact(sent.Weights.ToFloats(), back.Weights.ToFloats());
        var plain = Assert.IsType<FitRequest>(Serializer.FromBinary(Serializer.ToBinary(sent with { ClipNorm = null, Uplink = CompressionOptions.None }), "FQ"));
        Assert.Null(plain.ClipNorm);
        Assert.Equal(CompressionOptions.None, plain.Uplink);
    }

    [Fact]
    public void A_fit_request_with_out_of_range_uplink_settings_is_refused()
    {
        var bad = new FitRequest(4, new float[] { 1f }, new LocalTrainingOptions(), 9) { Uplink = new CompressionOptions(Codec.TopK, TopKFraction: 0) };

        var e = Assert.Throws<SerializationException>(() => Serializer.FromBinary(Serializer.ToBinary(bad), "FQ"));

        Assert.Contains("compression-topk", e.Message);
    }

    /// <summary>Where the parts of a compressed delta start in a serialized <see cref="FitResult"/> from <see cref="Id"/>.</summary>
    private const int CodecAt = 1 + 4 + 4 + 3;

    private byte[] Serialized(Codec codec) => Serializer.ToBinary(new FitResult(3, Id, Encoded(codec), 600, 0.5, 0.25));

    private SerializationException Refused(byte[] bytes) =>
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(bytes, "FR"));

    [Fact]
    public void An_unknown_codec_is_refused_by_name()
    {
        var bytes = Serialized(Codec.Int8);
        bytes[CodecAt] = 9;

        var e = Refused(bytes);

        Assert.Contains("Delta has unknown codec 9", e.Message);
    }

    [Fact]
    public void An_int8_code_of_minus_128_is_refused()
    {
        var bytes = Serialized(Codec.Int8);
        int blocks = (Length + 1023) / 1024;
        int codes = CodecAt + 1 + 4 + 4 + 4 + 4 * blocks + 4;
        bytes[codes + 10] = 0x80;

        var e = Refused(bytes);

        Assert.Contains("not a valid int8 vector", e.Message);
        Assert.Contains("-128", e.Message);
    }

    [Fact]
    public void A_scale_that_is_not_finite_is_refused()
    {
        var bytes = Serialized(Codec.Int4);
        int scales = CodecAt + 1 + 4 + 4 + 4;
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(scales + 4), float.NaN);

        var e = Refused(bytes);

        Assert.Contains("not a valid int4 vector", e.Message);
        Assert.Contains("scale", e.Message);
    }

    [Fact]
    public void A_block_size_of_zero_is_refused()
    {
        var bytes = Serialized(Codec.Int8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(CodecAt + 1 + 4), 0);

        var e = Refused(bytes);

        Assert.Contains("not a valid int8 vector", e.Message);
    }

    [Fact]
    public void Top_k_indices_out_of_order_or_past_the_end_are_refused()
    {
        var bytes = Serialized(Codec.TopK);
        int indices = CodecAt + 1 + 4 + 4;
        int first = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(indices));
        int second = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(indices + 4));
        var swapped = bytes.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(swapped.AsSpan(indices), second);
        BinaryPrimitives.WriteInt32LittleEndian(swapped.AsSpan(indices + 4), first);
        var past = bytes.ToArray();
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(indices - 4));
        BinaryPrimitives.WriteInt32LittleEndian(past.AsSpan(indices + 4 * (count - 1)), Length);

        Assert.Contains("not a valid topk vector", Refused(swapped).Message);
        Assert.Contains("not a valid topk vector", Refused(past).Message);
    }

    [Fact]
    public void Codes_cut_short_are_refused()
    {
        var bytes = Serialized(Codec.Fp16);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(CodecAt + 1), Length + 1); // one value more than the codes hold

        var e = Refused(bytes);

        Assert.Contains("not a valid fp16 vector", e.Message);
    }
}

using System.Buffers;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// The binary wire format of every <see cref="IFederationMessage"/> and of <see cref="Chunk"/>, independent of Akka so
/// that <see cref="FederationSerializer"/>, <see cref="FederationTransport"/> and <see cref="ChunkAssembler"/> share one
/// codec. One table, <see cref="Formats"/>, drives manifest, size, write and read: adding a message is one entry.
/// </summary>
/// <remarks>
/// Every payload starts with the format version byte, then the record's fields in declaration order
/// (<see cref="LocalTrainingOptions"/> inlined as Epochs, BatchSize, LearningRate, ProximalMu), written by
/// <see cref="WireWriter"/>: little-endian <c>i32</c>/<c>i64</c>/<c>f64</c>, length-prefixed UTF-8 strings and
/// float32 arrays. A <see cref="CompressedVector"/> is its codec byte, then its parts as they are (never expanded to
/// float32): raw floats; or the length and the fp16 bytes; or the length, block size, scales and codes; or the
/// length, top-k indices and values. Nothing follows the last field. Reading checks every count against the bytes that remain before
/// allocating, so a hostile length cannot make the reader allocate more than the payload.
/// </remarks>
internal static class FederationWire
{
    /// <summary>2: weights and updates are <see cref="CompressedVector"/>s, and a fit request names the uplink compression.</summary>
    public const byte Version = 2;

    /// <summary>The longest failure reason a client may send (it sends them bounded by <see cref="FailureText"/>).</summary>
    public const int MaxReasonChars = 4096;

    /// <summary>The longest text of a run event: a round's metrics as JSON, the reason a run ended.</summary>
    public const int MaxRunTextChars = 64 * 1024;

    public const int MaxAddressChars = 1024;

    private delegate void WriteFields<in T>(ref WireWriter writer, T message);

    private delegate T ReadFields<out T>(ref WireReader reader);

    // Run events are small and rare: their metrics travel as JSON inside the binary envelope.
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Every message on the wire: its manifest, how its fields are written, and how they are read back.</summary>
    private static readonly Format[] Formats =
    [
        Entry("RC", (ref WireWriter w, RegisterClient m) => { w.String(m.ClientId, "ClientId"); w.Int32(m.Examples); },
            (ref WireReader r) => new RegisterClient(ClientId(ref r), r.Int32("Examples"))),
        Entry("CR", (ref WireWriter w, ClientRegistered m) => w.String(m.ClientId, "ClientId"),
            (ref WireReader r) => new ClientRegistered(ClientId(ref r))),
        Entry("FQ", WriteFitRequest, ReadFitRequest),
        Entry("FR", (ref WireWriter w, FitResult m) =>
            {
                w.Int32(m.Round); w.String(m.ClientId, "ClientId"); WriteVector(ref w, m.Delta, "Delta");
                w.Int32(m.Examples); w.Double(m.Loss); w.Double(m.Accuracy);
            },
            (ref WireReader r) => new FitResult(r.Int32("Round"), ClientId(ref r), ReadVector(ref r, "Delta"), r.Int32("Examples"),
                r.Double("Loss"), r.Double("Accuracy"))),
        Entry("FF", (ref WireWriter w, FitFailed m) => { w.Int32(m.Round); w.String(m.ClientId, "ClientId"); w.String(m.Reason, "Reason"); },
            (ref WireReader r) => new FitFailed(r.Int32("Round"), ClientId(ref r), r.String("Reason", MaxReasonChars))),
        Entry("EQ", (ref WireWriter w, EvaluateRequest m) => { w.Int32(m.Round); WriteVector(ref w, m.Weights, "Weights"); },
            (ref WireReader r) => new EvaluateRequest(r.Int32("Round"), ReadVector(ref r, "Weights"))),
        Entry("ER", (ref WireWriter w, EvaluateResult m) =>
            {
                w.Int32(m.Round); w.String(m.ClientId, "ClientId"); w.Double(m.Loss); w.Double(m.Accuracy); w.Int32(m.Examples);
            },
            (ref WireReader r) => new EvaluateResult(r.Int32("Round"), ClientId(ref r), r.Double("Loss"), r.Double("Accuracy"),
                r.Int32("Examples"))),
        Entry("EF", (ref WireWriter w, EvaluateFailed m) => { w.Int32(m.Round); w.String(m.ClientId, "ClientId"); w.String(m.Reason, "Reason"); },
            (ref WireReader r) => new EvaluateFailed(r.Int32("Round"), ClientId(ref r), r.String("Reason", MaxReasonChars))),
        Entry("RR", (ref WireWriter w, RunEvents.RoundReport m) => w.String(MetricsJson(m), "Metrics"), ReadRoundReport),
        Entry("RE", (ref WireWriter w, RunEvents.Ended m) =>
            {
                w.Int32(m.LastRound); w.Byte(m.Failure is null ? (byte)0 : (byte)1); w.String(m.Failure ?? "", "Failure");
            },
            ReadEnded),
        Entry("IP", (ref WireWriter w, Security.IdentityProof m) =>
            {
                w.String(m.Address, "Address"); w.Bytes(m.Certificate); w.Bytes(m.Signature);
            },
            ReadIdentityProof),
        // A piece of a larger message (one of the above) on its way to the recipient's node; "CH" was its
        // recipient-less predecessor, which a node no longer reads.
        Entry("CK", (ref WireWriter w, Chunk m) =>
            {
                w.Int64(m.TransferId); w.Int32(m.Index); w.Int32(m.Count); w.String(m.Manifest, "Manifest");
                w.String(m.Recipient, "Recipient"); w.Bytes(m.Data.Span);
            },
            ReadChunk),
    ];

    private static readonly Dictionary<Type, Format> ByType = Formats.ToDictionary(f => f.Type);
    private static readonly Dictionary<string, Format> ByManifest = Formats.ToDictionary(f => f.Manifest, StringComparer.Ordinal);

    /// <summary>Every manifest in the table, in its order.</summary>
    public static IReadOnlyList<string> Manifests { get; } = Formats.Select(f => f.Manifest).ToArray();

    public static string Manifest(object message) => FormatOf(message).Manifest;

    /// <summary>True for the manifests of whole messages (not <see cref="Chunk"/>), the ones a chunk may carry.</summary>
    public static bool IsMessageManifest(string manifest) =>
        ByManifest.TryGetValue(manifest, out var format) && format.Type != typeof(Chunk);

    /// <summary>The exact number of bytes <see cref="Serialize"/> produces.</summary>
    public static int SizeOf(object message)
    {
        var format = FormatOf(message);
        var writer = WireWriter.Measure(format.Name);
        writer.Byte(Version);
        format.Write(ref writer, message);
        if (writer.Position > Array.MaxLength)
        {
            throw new SerializationException($"{format.Name} needs {writer.Position} bytes, more than one array holds");
        }
        return (int)writer.Position;
    }

    /// <summary>Writes the message into <paramref name="destination"/>, which must be exactly <see cref="SizeOf"/> long.</summary>
    public static void Write(object message, Span<byte> destination)
    {
        var format = FormatOf(message);
        var writer = new WireWriter(destination, format.Name);
        writer.Byte(Version);
        format.Write(ref writer, message);
        writer.Finish();
    }

    /// <summary>The message in one exactly sized array.</summary>
    public static byte[] Serialize(object message)
    {
        int size = SizeOf(message);
        // Every byte is written below, so skipping the zeroing of megabytes of weights is safe.
        var buffer = GC.AllocateUninitializedArray<byte>(size);
        Write(message, buffer);
        return buffer;
    }

    public static object Deserialize(byte[] payload, string manifest, WeightBuffers? buffers) =>
        Deserialize(new ReadOnlySequence<byte>(payload), manifest, buffers);

    /// <summary>
    /// Reads a message from <paramref name="payload"/>, which may be the pieces of a chunked transfer; its float arrays
    /// come from <paramref name="buffers"/> (fresh arrays when null).
    /// </summary>
    public static object Deserialize(ReadOnlySequence<byte> payload, string manifest, WeightBuffers? buffers)
    {
        long length = payload.Length;
        if (manifest is null || !ByManifest.TryGetValue(manifest, out var format))
        {
            throw new SerializationException(
                $"{nameof(FederationSerializer)}: unknown manifest '{manifest}' ({length} bytes); expected one of {string.Join(", ", Manifests)}");
        }
        var reader = new WireReader(payload,
            problem => new SerializationException($"Cannot deserialize {format.Name} (manifest '{manifest}', {length} bytes): {problem}"),
            buffers);
        var version = reader.Byte("format version");
        if (version != Version)
        {
            throw reader.Error($"unsupported format version {version} (this node reads version {Version})");
        }
        var message = format.Read(ref reader);
        reader.End();
        return message;
    }

    private static Format FormatOf(object message) =>
        message is not null && ByType.TryGetValue(message.GetType(), out var format)
            ? format
            : throw new SerializationException(
                $"{nameof(FederationSerializer)} cannot serialize {message?.GetType().FullName ?? "null"}: not a known federation message");

    private static void WriteFitRequest(ref WireWriter writer, FitRequest message)
    {
        writer.Int32(message.Round);
        WriteVector(ref writer, message.Weights, "Weights");
        var options = writer.Required(message.Options, "Options");
        writer.Int32(options.Epochs);
        writer.Int32(options.BatchSize);
        writer.Double(options.LearningRate);
        writer.Double(options.ProximalMu);
        writer.Int32(message.Seed);
        var uplink = writer.Required(message.Uplink, "Uplink");
        writer.Byte((byte)uplink.Codec);
        writer.Int32(uplink.BlockSize);
        writer.Double(uplink.TopKFraction);
        writer.Byte(uplink.ErrorFeedback ? (byte)1 : (byte)0);
        writer.Double(message.ClipNorm ?? 0);
    }

    private static FitRequest ReadFitRequest(ref WireReader reader)
    {
        int round = reader.Int32("Round");
        var weights = ReadVector(ref reader, "Weights");
        var options = new LocalTrainingOptions(reader.Int32("Epochs"), reader.Int32("BatchSize"), reader.Double("LearningRate"),
            reader.Double("ProximalMu"));
        int seed = reader.Int32("Seed");
        var uplink = new CompressionOptions((Codec)reader.Byte("Uplink codec"), reader.Int32("Uplink block size"),
            reader.Double("Uplink top-k fraction"), Flag(ref reader, "Uplink error feedback"));
        double clipNorm = reader.Double("ClipNorm");
        try
        {
            // A batch of 0 or a million epochs would hold the client's training thread for good.
            options.Validate();
            uplink.Validate("Uplink");
        }
        catch (SettingsException e)
        {
            throw reader.Error($"Options are out of range: {e.Message}");
        }
        if (!(clipNorm >= 0) || double.IsInfinity(clipNorm))
        {
            throw reader.Error($"ClipNorm {clipNorm} is not 0 (none) or a positive finite norm");
        }
        return new FitRequest(round, weights, options, seed) { Uplink = uplink, ClipNorm = clipNorm > 0 ? clipNorm : null };
    }

    private static bool Flag(ref WireReader reader, string field) => reader.Byte(field) switch
    {
        0 => false,
        1 => true,
        var flag => throw reader.Error($"{field} flag {flag} is neither 0 nor 1"),
    };

    private static void WriteVector(ref WireWriter writer, CompressedVector vector, string field)
    {
        writer.Required(vector, field);
        writer.Byte((byte)vector.Codec);
        switch (vector.Codec)
        {
            case Codec.None:
                writer.Floats(vector.Values, field);
                break;
            case Codec.Fp16:
                writer.Int32(vector.Length);
                writer.Bytes(vector.Codes);
                break;
            case Codec.Int8 or Codec.Int4:
                writer.Int32(vector.Length);
                writer.Int32(vector.BlockSize);
                writer.Floats(vector.Scales, field + " scales");
                writer.Bytes(vector.Codes);
                break;
            case Codec.TopK:
                writer.Int32(vector.Length);
                writer.Int32s(vector.Indices, field + " indices");
                writer.Floats(vector.Values, field + " values");
                break;
            default:
                throw new SerializationException($"{field} has codec {vector.Codec}, which has no wire form");
        }
    }

    /// <summary>
    /// A vector as it came: compressed parts stay compressed, and <see cref="CompressedVector.FromParts"/> checks
    /// them before anyone decodes a value (a hostile length, a code out of range, an index out of order).
    /// </summary>
    private static CompressedVector ReadVector(ref WireReader reader, string field)
    {
        var codec = (Codec)reader.Byte(field + " codec");
        try
        {
            switch (codec)
            {
                case Codec.None:
                    return CompressedVector.Raw(reader.Floats(field));
                case Codec.Fp16:
                {
                    int length = reader.Int32(field + " length");
                    return CompressedVector.FromParts(codec, length, 0, null, null, null, reader.Bytes(field + " codes").ToArray());
                }
                case Codec.Int8 or Codec.Int4:
                {
                    int length = reader.Int32(field + " length");
                    int blockSize = reader.Int32(field + " block size");
                    var scales = reader.Floats(field + " scales", pooled: false);
                    return CompressedVector.FromParts(codec, length, blockSize, null, null, scales, reader.Bytes(field + " codes").ToArray());
                }
                case Codec.TopK:
                {
                    int length = reader.Int32(field + " length");
                    var indices = reader.Int32s(field + " indices");
                    return CompressedVector.FromParts(codec, length, 0, reader.Floats(field + " values", pooled: false), indices, null, null);
                }
                default:
                    throw reader.Error($"{field} has unknown codec {(byte)codec}; expected one of {string.Join(", ", CompressionOptions.Names.Keys)}");
            }
        }
        catch (ArgumentException e)
        {
            throw reader.Error($"{field} is not a valid {CompressionOptions.NameOf(codec)} vector: {e.Message}");
        }
    }

    private static string ClientId(ref WireReader reader) => reader.String("ClientId", ClientIds.MaxLength);

    private static Security.IdentityProof ReadIdentityProof(ref WireReader reader)
    {
        string address = reader.String("Address", MaxAddressChars);
        var certificate = reader.Bytes("Certificate");
        if (certificate.Length > Security.IdentityProof.MaxCertificateBytes)
        {
            throw reader.Error($"Certificate of {certificate.Length} bytes is over {Security.IdentityProof.MaxCertificateBytes}");
        }
        var signature = reader.Bytes("Signature");
        if (signature.Length > Security.IdentityProof.MaxSignatureBytes)
        {
            throw reader.Error($"Signature of {signature.Length} bytes is over {Security.IdentityProof.MaxSignatureBytes}");
        }
        return new Security.IdentityProof(address, certificate.ToArray(), signature.ToArray());
    }

    private static string MetricsJson(RunEvents.RoundReport report) => JsonSerializer.Serialize(report.Metrics, Json);

    private static RunEvents.RoundReport ReadRoundReport(ref WireReader reader)
    {
        string json = reader.String("Metrics", MaxRunTextChars);
        try
        {
            var metrics = JsonSerializer.Deserialize<RoundMetrics>(json, Json);
            return new RunEvents.RoundReport(metrics ?? throw reader.Error("Metrics is null"));
        }
        catch (JsonException e)
        {
            throw reader.Error($"Metrics is not valid JSON: {e.Message}");
        }
    }

    private static RunEvents.Ended ReadEnded(ref WireReader reader)
    {
        int lastRound = reader.Int32("LastRound");
        bool failed = reader.Byte("HasFailure") switch
        {
            0 => false,
            1 => true,
            var flag => throw reader.Error($"HasFailure flag {flag} is neither 0 nor 1"),
        };
        string failure = reader.String("Failure", MaxRunTextChars);
        return new RunEvents.Ended(lastRound, failed ? failure : null);
    }

    private static Chunk ReadChunk(ref WireReader reader)
    {
        long transferId = reader.Int64("TransferId");
        int index = reader.Int32("Index");
        int count = reader.Int32("Count");
        if (count < 1)
        {
            throw reader.Error($"Count {count} must be at least 1");
        }
        if ((uint)index >= (uint)count)
        {
            throw reader.Error($"Index {index} is outside 0..{count - 1}");
        }
        return new Chunk(transferId, index, count, reader.String("Manifest"), reader.String("Recipient"), reader.Bytes("Data"));
    }

    private static Format Entry<T>(string manifest, WriteFields<T> write, ReadFields<T> read) where T : class =>
        new Format<T>(manifest, write, read);

    private abstract class Format(string manifest, Type type)
    {
        public string Manifest { get; } = manifest;
        public Type Type { get; } = type;
        public string Name => Type.Name;

        public abstract void Write(ref WireWriter writer, object message);

        public abstract object Read(ref WireReader reader);
    }

    private sealed class Format<T>(string manifest, WriteFields<T> write, ReadFields<T> read) : Format(manifest, typeof(T))
        where T : class
    {
        public override void Write(ref WireWriter writer, object message) => write(ref writer, (T)message);

        public override object Read(ref WireReader reader) => read(ref reader);
    }
}

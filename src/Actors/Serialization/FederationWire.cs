using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// The binary wire format of every <see cref="IFederationMessage"/>, independent of Akka so that
/// <see cref="FederationSerializer"/>, <see cref="ChunkedTransfer"/> and <see cref="ChunkAssembler"/> share one codec.
/// </summary>
/// <remarks>
/// Every payload starts with the format version byte, then the record's fields in declaration order
/// (<see cref="LocalTrainingOptions"/> inlined as Epochs, BatchSize, LearningRate, ProximalMu), little-endian:
/// <c>i32</c>/<c>i64</c>/<c>f64</c> fixed width; a string is an <c>i32</c> byte count and that many UTF-8 bytes;
/// a <c>float[]</c> is an <c>i32</c> element count and the raw IEEE-754 float32 values; a <c>byte[]</c> is an
/// <c>i32</c> byte count and the bytes. Nothing follows the last field. Reading checks every count against the
/// bytes that remain before allocating, so a hostile length cannot make the reader allocate more than the payload.
/// </remarks>
internal static class FederationWire
{
    public const byte Version = 1;

    public const string RegisterClientManifest = "RC";
    public const string ClientRegisteredManifest = "CR";
    public const string FitRequestManifest = "FQ";
    public const string FitResultManifest = "FR";
    public const string FitFailedManifest = "FF";
    public const string ChunkManifest = "CH";
    public const string EvaluateRequestManifest = "EQ";
    public const string EvaluateResultManifest = "ER";
    public const string EvaluateFailedManifest = "EF";
    public const string RoundReportManifest = "RR";
    public const string RunEndedManifest = "RE";

    // Run events are small and rare: their metrics travel as JSON inside the binary envelope.
    private static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Longest string accepted either way: client ids and failure reasons are far shorter.</summary>
    public const int MaxStringBytes = 1 << 20;

    // Strict both ways: an unpaired surrogate or invalid UTF-8 is an error, never silently replaced.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Manifest(object message) => message switch
    {
        RegisterClient => RegisterClientManifest,
        ClientRegistered => ClientRegisteredManifest,
        FitRequest => FitRequestManifest,
        FitResult => FitResultManifest,
        FitFailed => FitFailedManifest,
        Chunk => ChunkManifest,
        EvaluateRequest => EvaluateRequestManifest,
        EvaluateResult => EvaluateResultManifest,
        EvaluateFailed => EvaluateFailedManifest,
        RunEvents.RoundReport => RoundReportManifest,
        RunEvents.Ended => RunEndedManifest,
        _ => throw new SerializationException(
            $"{nameof(FederationSerializer)} cannot serialize {message?.GetType().FullName ?? "null"}: not a known federation message"),
    };

    /// <summary>True for the manifests of whole messages (not <see cref="Chunk"/>), the ones a chunk may carry.</summary>
    public static bool IsMessageManifest(string manifest) => manifest is RegisterClientManifest or ClientRegisteredManifest
        or FitRequestManifest or FitResultManifest or FitFailedManifest or RoundReportManifest or RunEndedManifest
        or EvaluateRequestManifest or EvaluateResultManifest or EvaluateFailedManifest;

    private static string TypeName(string manifest) => manifest switch
    {
        RegisterClientManifest => nameof(RegisterClient),
        ClientRegisteredManifest => nameof(ClientRegistered),
        FitRequestManifest => nameof(FitRequest),
        FitResultManifest => nameof(FitResult),
        FitFailedManifest => nameof(FitFailed),
        ChunkManifest => nameof(Chunk),
        EvaluateRequestManifest => nameof(EvaluateRequest),
        EvaluateResultManifest => nameof(EvaluateResult),
        EvaluateFailedManifest => nameof(EvaluateFailed),
        RoundReportManifest => nameof(RunEvents.RoundReport),
        RunEndedManifest => nameof(RunEvents.Ended),
        _ => "unknown message",
    };

    /// <summary>The message in one exactly sized array.</summary>
    public static byte[] Serialize(object message)
    {
        int size = SizeOf(message);
        // Every byte is written below, so skipping the zeroing of megabytes of weights is safe.
        var buffer = GC.AllocateUninitializedArray<byte>(size);
        Write(message, buffer);
        return buffer;
    }

    /// <summary>Writes the message into <paramref name="destination"/>, which must be exactly <see cref="SizeOf"/> long.</summary>
    public static void Write(object message, Span<byte> destination)
    {
        var writer = new Writer(destination, message);
        Write(ref writer, message);
        writer.Finish();
    }

    /// <summary>The exact number of bytes <see cref="Serialize"/> produces.</summary>
    public static int SizeOf(object message)
    {
        long size = 1 + message switch
        {
            RegisterClient m => StringSize(m.ClientId, message, nameof(m.ClientId)) + 4,
            ClientRegistered m => StringSize(m.ClientId, message, nameof(m.ClientId)),
            FitRequest m => 4 + FloatsSize(m.Weights, message, nameof(m.Weights)) + OptionsSize(m.Options, message) + 4,
            FitResult m => 4 + StringSize(m.ClientId, message, nameof(m.ClientId))
                + FloatsSize(m.Delta, message, nameof(m.Delta)) + 4 + 8 + 8,
            FitFailed m => 4 + StringSize(m.ClientId, message, nameof(m.ClientId))
                + StringSize(m.Reason, message, nameof(m.Reason)),
            EvaluateRequest m => 4 + FloatsSize(m.Weights, message, nameof(m.Weights)),
            EvaluateResult m => 4 + StringSize(m.ClientId, message, nameof(m.ClientId)) + 8 + 8 + 4,
            EvaluateFailed m => 4 + StringSize(m.ClientId, message, nameof(m.ClientId)) + StringSize(m.Reason, message, nameof(m.Reason)),
            RunEvents.RoundReport m => StringSize(MetricsJson(m), message, nameof(m.Metrics)),
            RunEvents.Ended m => 4 + 1 + StringSize(m.Failure ?? "", message, nameof(m.Failure)),
            Chunk m => 8 + 4 + 4 + StringSize(m.Manifest, message, nameof(m.Manifest))
                + BytesSize(m.Data),
            _ => throw new SerializationException(
                $"{nameof(FederationSerializer)} cannot serialize {message?.GetType().FullName ?? "null"}: not a known federation message"),
        };
        if (size > Array.MaxLength)
        {
            throw new SerializationException($"{message.GetType().Name} needs {size} bytes, more than one array holds");
        }
        return (int)size;
    }

    private static void Write(ref Writer writer, object message)
    {
        writer.Byte(Version);
        switch (message)
        {
            case RegisterClient m:
                writer.String(m.ClientId);
                writer.Int32(m.Examples);
                break;
            case ClientRegistered m:
                writer.String(m.ClientId);
                break;
            case FitRequest m:
                writer.Int32(m.Round);
                writer.Floats(m.Weights);
                writer.Int32(m.Options.Epochs);
                writer.Int32(m.Options.BatchSize);
                writer.Double(m.Options.LearningRate);
                writer.Double(m.Options.ProximalMu);
                writer.Int32(m.Seed);
                break;
            case FitResult m:
                writer.Int32(m.Round);
                writer.String(m.ClientId);
                writer.Floats(m.Delta);
                writer.Int32(m.Examples);
                writer.Double(m.Loss);
                writer.Double(m.Accuracy);
                break;
            case FitFailed m:
                writer.Int32(m.Round);
                writer.String(m.ClientId);
                writer.String(m.Reason);
                break;
            case EvaluateRequest m:
                writer.Int32(m.Round);
                writer.Floats(m.Weights);
                break;
            case EvaluateResult m:
                writer.Int32(m.Round);
                writer.String(m.ClientId);
                writer.Double(m.Loss);
                writer.Double(m.Accuracy);
                writer.Int32(m.Examples);
                break;
            case EvaluateFailed m:
                writer.Int32(m.Round);
                writer.String(m.ClientId);
                writer.String(m.Reason);
                break;
            case RunEvents.RoundReport m:
                writer.String(MetricsJson(m));
                break;
            case RunEvents.Ended m:
                writer.Int32(m.LastRound);
                writer.Byte(m.Failure is null ? (byte)0 : (byte)1);
                writer.String(m.Failure ?? "");
                break;
            case Chunk m:
                writer.Int64(m.TransferId);
                writer.Int32(m.Index);
                writer.Int32(m.Count);
                writer.String(m.Manifest);
                writer.Bytes(m.Data);
                break;
        }
    }

    public static object Deserialize(byte[] payload, string manifest) => Deserialize(new ReadOnlySequence<byte>(payload), manifest);

    /// <summary>Reads a message from <paramref name="payload"/>, which may be the pieces of a chunked transfer.</summary>
    public static object Deserialize(ReadOnlySequence<byte> payload, string manifest)
    {
        if (!IsMessageManifest(manifest) && manifest != ChunkManifest)
        {
            throw new SerializationException(
                $"{nameof(FederationSerializer)}: unknown manifest '{manifest}' ({payload.Length} bytes); expected one of "
                + $"{RegisterClientManifest}, {ClientRegisteredManifest}, {FitRequestManifest}, {FitResultManifest}, "
                + $"{FitFailedManifest}, {ChunkManifest}");
        }
        var reader = new Reader(payload, manifest);
        var version = reader.Byte("format version");
        if (version != Version)
        {
            throw reader.Error($"unsupported format version {version} (this node reads version {Version})");
        }
        object message = manifest switch
        {
            RegisterClientManifest => new RegisterClient(reader.String("ClientId"), reader.Int32("Examples")),
            ClientRegisteredManifest => new ClientRegistered(reader.String("ClientId")),
            FitRequestManifest => ReadFitRequest(ref reader),
            FitResultManifest => new FitResult(reader.Int32("Round"), reader.String("ClientId"), reader.Floats("Delta"),
                reader.Int32("Examples"), reader.Double("Loss"), reader.Double("Accuracy")),
            FitFailedManifest => new FitFailed(reader.Int32("Round"), reader.String("ClientId"), reader.String("Reason")),
            EvaluateRequestManifest => new EvaluateRequest(reader.Int32("Round"), reader.Floats("Weights")),
            EvaluateResultManifest => new EvaluateResult(reader.Int32("Round"), reader.String("ClientId"), reader.Double("Loss"),
                reader.Double("Accuracy"), reader.Int32("Examples")),
            EvaluateFailedManifest => new EvaluateFailed(reader.Int32("Round"), reader.String("ClientId"), reader.String("Reason")),
            RoundReportManifest => ReadRoundReport(ref reader),
            RunEndedManifest => ReadEnded(ref reader),
            _ => ReadChunk(ref reader),
        };
        reader.End();
        return message;
    }

    private static string MetricsJson(RunEvents.RoundReport report) => System.Text.Json.JsonSerializer.Serialize(report.Metrics, Json);

    private static RunEvents.RoundReport ReadRoundReport(ref Reader reader)
    {
        string json = reader.String("Metrics");
        try
        {
            var metrics = System.Text.Json.JsonSerializer.Deserialize<Model.Federation.RoundMetrics>(json, Json);
            return new RunEvents.RoundReport(metrics ?? throw reader.Error("Metrics is null"));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw reader.Error($"Metrics is not valid JSON: {e.Message}");
        }
    }

    private static RunEvents.Ended ReadEnded(ref Reader reader)
    {
        int lastRound = reader.Int32("LastRound");
        bool failed = reader.Byte("HasFailure") switch
        {
            0 => false,
            1 => true,
            var flag => throw reader.Error($"HasFailure flag {flag} is neither 0 nor 1"),
        };
        string failure = reader.String("Failure");
        return new RunEvents.Ended(lastRound, failed ? failure : null);
    }

    private static FitRequest ReadFitRequest(ref Reader reader)
    {
        int round = reader.Int32("Round");
        var weights = reader.Floats("Weights");
        var options = new LocalTrainingOptions(reader.Int32("Epochs"), reader.Int32("BatchSize"), reader.Double("LearningRate"),
            reader.Double("ProximalMu"));
        return new FitRequest(round, weights, options, reader.Int32("Seed"));
    }

    private static Chunk ReadChunk(ref Reader reader)
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
        return new Chunk(transferId, index, count, reader.String("Manifest"), reader.Bytes("Data"));
    }

    private static long StringSize(string? value, object message, string field)
    {
        if (value is null)
        {
            throw new SerializationException($"{message.GetType().Name}.{field} is null");
        }
        int bytes;
        try
        {
            bytes = Utf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new SerializationException($"{message.GetType().Name}.{field} is not valid Unicode: {e.Message}", e);
        }
        if (bytes > MaxStringBytes)
        {
            throw new SerializationException(
                $"{message.GetType().Name}.{field} is {bytes} bytes of UTF-8, more than the {MaxStringBytes} allowed");
        }
        return 4 + bytes;
    }

    private static long OptionsSize(LocalTrainingOptions? options, object message) => options is null
        ? throw new SerializationException($"{message.GetType().Name}.Options is null")
        : 4 + 4 + 8 + 8;

    private static long FloatsSize(float[]? value, object message, string field) => value is null
        ? throw new SerializationException($"{message.GetType().Name}.{field} is null")
        : 4 + 4L * value.Length;

    private static long BytesSize(ReadOnlyMemory<byte> value) => 4 + (long)value.Length;

    private ref struct Writer
    {
        private readonly Span<byte> _buffer;
        private readonly object _message;
        private int _position;

        public Writer(Span<byte> buffer, object message)
        {
            _buffer = buffer;
            _message = message;
            _position = 0;
        }

        public void Byte(byte value) => _buffer[_position++] = value;

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[_position..], value);
            _position += 4;
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[_position..], value);
            _position += 8;
        }

        public void Double(double value)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(_buffer[_position..], value);
            _position += 8;
        }

        public void String(string value)
        {
            int written = Utf8.GetBytes(value, _buffer[(_position + 4)..]);
            Int32(written);
            _position += written;
        }

        public void Floats(float[] values)
        {
            Int32(values.Length);
            var target = _buffer.Slice(_position, values.Length * 4);
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(target);
            }
            else
            {
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(target[(i * 4)..], values[i]);
                }
            }
            _position += target.Length;
        }

        public void Bytes(ReadOnlyMemory<byte> values)
        {
            Int32(values.Length);
            values.Span.CopyTo(_buffer[_position..]);
            _position += values.Length;
        }

        /// <summary>Guards <see cref="SizeOf"/> and the writer against drifting apart.</summary>
        public readonly void Finish()
        {
            if (_position != _buffer.Length)
            {
                throw new InvalidOperationException(
                    $"{_message.GetType().Name}: wrote {_position} bytes but sized {_buffer.Length}; the size and the writer disagree");
            }
        }
    }

    /// <summary>
    /// Reads fields from one array or from the pieces of a chunked transfer alike, so joined pieces never need
    /// copying into one buffer first. Every read checks the remaining length before touching or allocating.
    /// </summary>
    private ref struct Reader
    {
        private SequenceReader<byte> _reader;
        private readonly string _manifest;
        private readonly long _length;

        public Reader(ReadOnlySequence<byte> payload, string manifest)
        {
            _reader = new SequenceReader<byte>(payload);
            _manifest = manifest;
            _length = payload.Length;
        }

        public readonly SerializationException Error(string problem) => new(
            $"Cannot deserialize {TypeName(_manifest)} (manifest '{_manifest}', {_length} bytes): {problem}");

        private readonly void Need(long count, string field)
        {
            if (count > _reader.Remaining)
            {
                throw Error($"payload truncated: {field} needs {count} bytes at offset {_reader.Consumed} "
                    + $"but only {_reader.Remaining} remain");
            }
        }

        public byte Byte(string field)
        {
            Need(1, field);
            _reader.TryRead(out byte value);
            return value;
        }

        public int Int32(string field)
        {
            Need(4, field);
            _reader.TryReadLittleEndian(out int value);
            return value;
        }

        public long Int64(string field)
        {
            Need(8, field);
            _reader.TryReadLittleEndian(out long value);
            return value;
        }

        public double Double(string field) => BitConverter.Int64BitsToDouble(Int64(field));

        private int Length(string field, long unit, long max)
        {
            int count = Int32(field + " length");
            if (count < 0)
            {
                throw Error($"{field} has negative length {count}");
            }
            if (count > max)
            {
                throw Error($"{field} length {count} exceeds the limit of {max}");
            }
            if (count * unit > _reader.Remaining)
            {
                throw Error($"payload truncated: {field} claims {count} × {unit} bytes at offset {_reader.Consumed} "
                    + $"but only {_reader.Remaining} remain");
            }
            return count;
        }

        /// <summary>Copies the next <paramref name="destination"/>.Length bytes, across pieces if need be.</summary>
        private void Copy(Span<byte> destination)
        {
            _reader.TryCopyTo(destination);
            _reader.Advance(destination.Length);
        }

        public string String(string field)
        {
            int length = Length(field, 1, MaxStringBytes);
            ReadOnlySpan<byte> bytes;
            if (_reader.UnreadSpan.Length >= length)
            {
                bytes = _reader.UnreadSpan[..length];
                _reader.Advance(length);
            }
            else
            {
                var joined = new byte[length];
                Copy(joined);
                bytes = joined;
            }
            try
            {
                return Utf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw Error($"{field} is not valid UTF-8 ({e.Message})");
            }
        }

        public float[] Floats(string field)
        {
            int count = Length(field, 4, Array.MaxLength);
            // Every element is overwritten below, so a reused array (or an unzeroed new one) is safe.
            var values = WeightBuffers.Rent(count);
            Copy(MemoryMarshal.AsBytes(values.AsSpan()));
            if (!BitConverter.IsLittleEndian)
            {
                var bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
                BinaryPrimitives.ReverseEndianness(bits, bits);
            }
            return values;
        }

        /// <summary>The next bytes as a view into the payload when it is one array (a frame), else a copy.</summary>
        public ReadOnlyMemory<byte> Bytes(string field)
        {
            int count = Length(field, 1, Array.MaxLength);
            var bytes = _reader.UnreadSequence.Slice(0, count);
            _reader.Advance(count);
            return bytes.IsSingleSegment ? bytes.First : bytes.ToArray();
        }

        public readonly void End()
        {
            if (_reader.Remaining != 0)
            {
                throw Error($"{_reader.Remaining} trailing bytes after the last field at offset {_reader.Consumed}");
            }
        }
    }
}

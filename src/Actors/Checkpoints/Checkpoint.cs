using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Privacy;

namespace AkkaFed.Actors.Checkpoints;

/// <summary>
/// Everything a server needs to continue a run where it stopped: the next round and global weights, the
/// server optimizer's state (empty for SGD), the run's seed (every random choice derives from the seed and
/// the round, so this is the random state), the count of failed rounds in a row, and the metrics so far.
/// </summary>
public sealed record Checkpoint(
    int Seed,
    FederatedState State,
    IReadOnlyList<float[]> ServerOptimizerState,
    int FailuresInARow,
    IReadOnlyList<RoundMetrics> Metrics)
{
    private static readonly byte[] Magic = "AKFEDCKP"u8.ToArray();
    private const byte Version = 2;

    /// <summary>DP-FedAvg's clip norm and the rounds its privacy ledger has recorded; null without DP.</summary>
    public PrivacyState? Privacy { get; init; }

    /// <summary>What of <see cref="PrivacyState"/> is written: the ledger is rebuilt from its entries.</summary>
    private sealed record PrivacyRecord(double ClipNorm, IReadOnlyList<LedgerEntry> Entries);
    private const int HashLength = 32;

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// Layout: magic, version, payload length, payload, SHA-256 of the payload. The payload holds seed,
    /// round, failures in a row, the weights as raw little-endian float32, the optimizer slots, and the
    /// metrics as UTF-8 JSON.
    /// </summary>
    public byte[] ToBytes()
    {
        var metrics = JsonSerializer.SerializeToUtf8Bytes(Metrics, Json);
        var privacy = JsonSerializer.SerializeToUtf8Bytes(
            Privacy is null ? null : new PrivacyRecord(Privacy.ClipNorm, Privacy.Ledger.Entries), Json);
        long payloadLength = 12 + ArrayBytes(State.Weights) + 4 + ServerOptimizerState.Sum(ArrayBytes) + 4 + metrics.Length
                             + 4 + privacy.Length;
        var bytes = new byte[Magic.Length + 1 + 8 + payloadLength + HashLength];
        var writer = new SpanWriter(bytes);
        writer.Bytes(Magic);
        writer.Byte(Version);
        writer.Long(payloadLength);
        int payloadStart = writer.Position;
        writer.Int(Seed);
        writer.Int(State.Round);
        writer.Int(FailuresInARow);
        writer.Floats(State.Weights);
        writer.Int(ServerOptimizerState.Count);
        foreach (var slot in ServerOptimizerState)
        {
            writer.Floats(slot);
        }
        writer.Int(metrics.Length);
        writer.Bytes(metrics);
        writer.Int(privacy.Length);
        writer.Bytes(privacy);
        SHA256.HashData(bytes.AsSpan(payloadStart, (int)payloadLength), bytes.AsSpan(writer.Position, HashLength));
        return bytes;
    }

    /// <summary>Reads a checkpoint, refusing anything damaged with an <see cref="InvalidDataException"/> that says what.</summary>
    public static Checkpoint FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Magic.Length + 1 + 8 + HashLength || !bytes[..Magic.Length].SequenceEqual(Magic))
        {
            throw new InvalidDataException("not an AkkaFed checkpoint (bad magic or too short)");
        }
        if (bytes[Magic.Length] != Version)
        {
            throw new InvalidDataException($"checkpoint format version {bytes[Magic.Length]}, this build reads {Version}");
        }
        long payloadLength = BinaryPrimitives.ReadInt64LittleEndian(bytes[(Magic.Length + 1)..]);
        int payloadStart = Magic.Length + 1 + 8;
        if (payloadLength < 0 || payloadStart + payloadLength + HashLength != bytes.Length)
        {
            throw new InvalidDataException($"truncated: the header announces {payloadLength} payload bytes, the file holds {bytes.Length - payloadStart - HashLength}");
        }
        var payload = bytes.Slice(payloadStart, (int)payloadLength);
        Span<byte> hash = stackalloc byte[HashLength];
        SHA256.HashData(payload, hash);
        if (!hash.SequenceEqual(bytes[^HashLength..]))
        {
            throw new InvalidDataException("checksum mismatch: the file is damaged");
        }

        var reader = new SpanReader(payload);
        int seed = reader.Int();
        int round = reader.Int();
        int failures = reader.Int();
        var weights = reader.Floats();
        int slots = reader.Count();
        var optimizer = new float[slots][];
        for (int i = 0; i < slots; i++)
        {
            optimizer[i] = reader.Floats();
        }
        var metrics = JsonSerializer.Deserialize<List<RoundMetrics>>(reader.Bytes(reader.Count()), Json)
                      ?? throw new InvalidDataException("metrics missing");
        var privacy = JsonSerializer.Deserialize<PrivacyRecord?>(reader.Bytes(reader.Count()), Json);
        if (!reader.AtEnd)
        {
            throw new InvalidDataException("trailing bytes after the privacy state");
        }
        var ledger = privacy?.Entries.Aggregate(PrivacyLedger.Empty, (l, e) => l.Record(e.SamplingRate, e.NoiseMultiplier, e.Rounds));
        var state = new FederatedState(round, weights)
        {
            Optimizer = new ServerOptimizerState(optimizer),
            Privacy = privacy is null ? null : new PrivacyState(privacy.ClipNorm, ledger!),
        };
        return new Checkpoint(seed, state, optimizer, failures, metrics) { Privacy = state.Privacy };
    }

    private static long ArrayBytes(float[] values) => 4 + 4L * values.Length;

    private ref struct SpanWriter(Span<byte> bytes)
    {
        private readonly Span<byte> _bytes = bytes;
        public int Position { get; private set; }

        public void Byte(byte value) => _bytes[Position++] = value;

        public void Int(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_bytes[Position..], value);
            Position += 4;
        }

        public void Long(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_bytes[Position..], value);
            Position += 8;
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            value.CopyTo(_bytes[Position..]);
            Position += value.Length;
        }

        public void Floats(float[] values)
        {
            Int(values.Length);
            if (BitConverter.IsLittleEndian)
            {
                Bytes(MemoryMarshal.AsBytes(values.AsSpan()));
                return;
            }
            foreach (float value in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(_bytes[Position..], value);
                Position += 4;
            }
        }
    }

    private ref struct SpanReader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public bool AtEnd => _position == _bytes.Length;

        public ReadOnlySpan<byte> Bytes(int count)
        {
            if (count < 0 || count > _bytes.Length - _position)
            {
                throw new InvalidDataException($"truncated: {count} bytes wanted at offset {_position} of {_bytes.Length}");
            }
            var slice = _bytes.Slice(_position, count);
            _position += count;
            return slice;
        }

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));

        public int Count()
        {
            int count = Int();
            return count >= 0 ? count : throw new InvalidDataException($"negative length {count}");
        }

        public float[] Floats()
        {
            int count = Count();
            if (count > (_bytes.Length - _position) / 4)
            {
                throw new InvalidDataException($"truncated: {count} floats announced, {(_bytes.Length - _position) / 4} present");
            }
            var raw = Bytes(count * 4);
            var values = new float[count];
            if (BitConverter.IsLittleEndian)
            {
                raw.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                }
            }
            return values;
        }
    }
}

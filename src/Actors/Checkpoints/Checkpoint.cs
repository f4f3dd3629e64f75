using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using AkkaFed.Actors.Serialization;
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

    /// <summary>Version 3 puts the writer's epoch and the run's fingerprint in front of version 2's payload.</summary>
    private const byte Version = 3;
    private const byte VersionWithoutFingerprint = 2;
    private const int MaxFingerprintBytes = 64 * 1024;

    /// <summary>DP-FedAvg's clip norm and the rounds its privacy ledger has recorded; null without DP.</summary>
    public PrivacyState? Privacy { get; init; }

    /// <summary>The run that wrote it; null in a file of format version 2, which predates fingerprints.</summary>
    public RunFingerprint? Fingerprint { get; init; }

    /// <summary>The epoch of the server that wrote it (see <see cref="CheckpointStore"/>); 0 in a file of format version 2.</summary>
    public int Epoch { get; init; }

    /// <summary>What of <see cref="PrivacyState"/> is written: the ledger is rebuilt from its entries.</summary>
    private sealed record PrivacyRecord(double ClipNorm, IReadOnlyList<LedgerEntry> Entries);
    private const int HashLength = 32;

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private const int HeaderLength = 8 + 1 + 8;

    /// <summary>
    /// Layout: magic, version, payload length, payload, SHA-256 of the payload. The payload holds the epoch and the
    /// fingerprint as UTF-8 JSON (version 3 only), seed, round, failures in a row, the weights as raw little-endian
    /// float32, the optimizer slots, and the metrics and privacy state as UTF-8 JSON, written with the wire's
    /// <see cref="WireWriter"/>. A checkpoint without a fingerprint is written as version 2, byte for byte as before.
    /// </summary>
    public byte[] ToBytes()
    {
        if (Fingerprint is null && Epoch != 0)
        {
            throw new InvalidOperationException($"epoch {Epoch} without a run fingerprint: format version 2 has room for neither");
        }
        byte version = Fingerprint is null ? VersionWithoutFingerprint : Version;
        var fingerprint = Fingerprint?.ToJson() ?? Array.Empty<byte>();
        if (fingerprint.Length > MaxFingerprintBytes)
        {
            throw new InvalidOperationException($"a run fingerprint of {fingerprint.Length} bytes, more than the {MaxFingerprintBytes} allowed");
        }
        var metrics = JsonSerializer.SerializeToUtf8Bytes(Metrics, Json);
        var privacy = JsonSerializer.SerializeToUtf8Bytes(
            Privacy is null ? null : new PrivacyRecord(Privacy.ClipNorm, Privacy.Ledger.Entries), Json);
        var measure = WireWriter.Measure(nameof(Checkpoint));
        WritePayload(ref measure, fingerprint, metrics, privacy);
        long payloadLength = measure.Position;
        if (HeaderLength + payloadLength + HashLength > Array.MaxLength)
        {
            throw new InvalidOperationException($"a checkpoint of {payloadLength} payload bytes does not fit one array");
        }
        var bytes = new byte[HeaderLength + payloadLength + HashLength];
        var writer = new WireWriter(bytes.AsSpan(..^HashLength), nameof(Checkpoint));
        writer.Raw(Magic);
        writer.Byte(version);
        writer.Int64(payloadLength);
        WritePayload(ref writer, fingerprint, metrics, privacy);
        writer.Finish();
        SHA256.HashData(bytes.AsSpan(HeaderLength, (int)payloadLength), bytes.AsSpan(^HashLength));
        return bytes;
    }

    private void WritePayload(ref WireWriter writer, byte[] fingerprint, byte[] metrics, byte[] privacy)
    {
        if (Fingerprint is not null)
        {
            writer.Int32(Epoch);
            writer.Bytes(fingerprint);
        }
        writer.Int32(Seed);
        writer.Int32(State.Round);
        writer.Int32(FailuresInARow);
        writer.Floats(State.Weights, "Weights");
        writer.Int32(ServerOptimizerState.Count);
        foreach (var slot in ServerOptimizerState)
        {
            writer.Floats(slot, nameof(ServerOptimizerState));
        }
        writer.Bytes(metrics);
        writer.Bytes(privacy);
    }

    /// <summary>Reads a checkpoint of format version 2 or 3, refusing anything damaged with an <see cref="InvalidDataException"/> that says what.</summary>
    public static Checkpoint FromBytes(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        byte version = Framing(span, span.Length);
        Span<byte> hash = stackalloc byte[HashLength];
        SHA256.HashData(span[HeaderLength..^HashLength], hash);
        if (!hash.SequenceEqual(span[^HashLength..]))
        {
            throw new InvalidDataException("checksum mismatch: the file is damaged");
        }

        // The checksum only proves the file is as written: a file crafted with a valid one must still be refused as
        // damaged, never with another exception, so every count is checked against the bytes left before allocating
        // (WireReader does) and every value is checked before it is used.
        var reader = new WireReader(bytes[HeaderLength..^HashLength], Damaged);
        var header = ReadHeader(ref reader, version);
        int failures = reader.Int32("FailuresInARow");
        if (failures < 0)
        {
            throw Damaged($"{failures} failures in a row");
        }
        var weights = reader.Floats("Weights");
        // Each slot is at least its 4-byte count, so a damaged count cannot allocate more than the file holds.
        var optimizer = new float[reader.Count(nameof(ServerOptimizerState), unit: 4)][];
        for (int i = 0; i < optimizer.Length; i++)
        {
            optimizer[i] = reader.Floats(nameof(ServerOptimizerState));
        }
        var metrics = JsonSerializer.Deserialize<List<RoundMetrics>>(reader.Bytes(nameof(Metrics)).Span, Json)
                      ?? throw Damaged("metrics missing");
        if (metrics.Contains(null!))
        {
            throw Damaged("the metrics hold an empty entry");
        }
        var privacy = JsonSerializer.Deserialize<PrivacyRecord?>(reader.Bytes(nameof(Privacy)).Span, Json);
        reader.End();
        var state = new FederatedState(header.Round, weights)
        {
            // The simulated time a resumed run goes on from: the last round's, which its metrics hold to the bit (on the
            // wall clock there is none). Availability windows and the order of updates depend on it.
            SimulatedTime = metrics.Count > 0 ? metrics[^1].SimulatedTime ?? 0 : 0,
            Optimizer = new ServerOptimizerState(optimizer),
            Privacy = privacy is null ? null : new PrivacyState(privacy.ClipNorm, Ledger(privacy)),
        };
        return new Checkpoint(header.Seed, state, optimizer, failures, metrics)
        {
            Privacy = state.Privacy,
            Fingerprint = header.Fingerprint,
            Epoch = header.Epoch,
        };
    }

    /// <summary>
    /// The start of the file at <paramref name="path"/>: what a store needs to order, prune and fence checkpoints
    /// without reading each whole. The checksum is not checked (that takes the whole file); <see cref="FromBytes"/> does.
    /// </summary>
    internal static CheckpointHeader ReadHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        // Magic, version and length, then (version 3) the epoch and the fingerprint's length, then what they announce.
        var start = new byte[Math.Min(file.Length, HeaderLength + 8)];
        file.ReadExactly(start);
        byte version = Framing(start, file.Length);
        int fingerprint = version == Version ? BinaryPrimitives.ReadInt32LittleEndian(start.AsSpan(HeaderLength + 4)) : 0;
        if (fingerprint is < 0 or > MaxFingerprintBytes)
        {
            throw Damaged($"a run fingerprint of {fingerprint} bytes (at most {MaxFingerprintBytes})");
        }
        var prefix = new byte[Math.Min(file.Length - HashLength, HeaderLength + 8L + fingerprint + 8)];
        file.Position = 0;
        file.ReadExactly(prefix);
        var reader = new WireReader(prefix.AsMemory(HeaderLength), Damaged);
        return ReadHeader(ref reader, version);
    }

    private static CheckpointHeader ReadHeader(ref WireReader reader, byte version)
    {
        int epoch = 0;
        RunFingerprint? fingerprint = null;
        if (version == Version)
        {
            epoch = reader.Int32(nameof(Epoch));
            var json = reader.Bytes(nameof(Fingerprint));
            if (epoch < 0 || json.Length > MaxFingerprintBytes)
            {
                throw Damaged($"epoch {epoch} with a run fingerprint of {json.Length} bytes");
            }
            fingerprint = RunFingerprint.FromJson(json.Span) ?? throw Damaged("the run fingerprint is missing");
        }
        int seed = reader.Int32(nameof(Seed));
        int round = reader.Int32("Round");
        if (round < 1)
        {
            throw Damaged($"round {round} (rounds start at 1)");
        }
        return new CheckpointHeader(epoch, fingerprint, seed, round);
    }

    /// <summary>Checks magic, version and length against a file of <paramref name="length"/> bytes starting with <paramref name="start"/>; returns the version.</summary>
    private static byte Framing(ReadOnlySpan<byte> start, long length)
    {
        if (length < HeaderLength + HashLength || !start.StartsWith(Magic))
        {
            throw new InvalidDataException("not an AkkaFed checkpoint (bad magic or too short)");
        }
        byte version = start[Magic.Length];
        if (version is not (VersionWithoutFingerprint or Version))
        {
            throw new InvalidDataException($"checkpoint format version {version}, this build reads {VersionWithoutFingerprint} and {Version}");
        }
        long payloadLength = BinaryPrimitives.ReadInt64LittleEndian(start[(Magic.Length + 1)..]);
        long held = length - HeaderLength - HashLength;
        if (payloadLength != held)
        {
            throw new InvalidDataException($"truncated: the header announces {payloadLength} payload bytes, the file holds {held}");
        }
        return version;
    }

    private static InvalidDataException Damaged(string problem) => new($"checkpoint damaged: {problem}");

    private static PrivacyLedger Ledger(PrivacyRecord privacy)
    {
        if (!(privacy.ClipNorm > 0) || double.IsInfinity(privacy.ClipNorm))
        {
            throw Damaged($"the privacy ledger's clip norm is {privacy.ClipNorm}, not a positive number");
        }
        if (privacy.Entries is null || privacy.Entries.Contains(null!))
        {
            throw Damaged("the privacy ledger has a missing entry");
        }
        try
        {
            return privacy.Entries.Aggregate(PrivacyLedger.Empty, (ledger, e) => ledger.Record(e.SamplingRate, e.NoiseMultiplier, e.Rounds));
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw Damaged($"the privacy ledger holds an impossible entry ({e.Message})");
        }
    }
}

/// <summary>The start of a checkpoint file: who wrote it, for which run, and which round it leads to.</summary>
/// <param name="Fingerprint">Null in a file of format version 2.</param>
/// <param name="Round">The next round (<see cref="FederatedState.Round"/>), as in the file's name.</param>
internal sealed record CheckpointHeader(int Epoch, RunFingerprint? Fingerprint, int Seed, int Round);

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

    private const int HeaderLength = 8 + 1 + 8;

    /// <summary>
    /// Layout: magic, version, payload length, payload, SHA-256 of the payload. The payload holds seed,
    /// round, failures in a row, the weights as raw little-endian float32, the optimizer slots, and the
    /// metrics and privacy state as UTF-8 JSON, written with the wire's <see cref="WireWriter"/>.
    /// </summary>
    public byte[] ToBytes()
    {
        var metrics = JsonSerializer.SerializeToUtf8Bytes(Metrics, Json);
        var privacy = JsonSerializer.SerializeToUtf8Bytes(
            Privacy is null ? null : new PrivacyRecord(Privacy.ClipNorm, Privacy.Ledger.Entries), Json);
        var measure = WireWriter.Measure(nameof(Checkpoint));
        WritePayload(ref measure, metrics, privacy);
        long payloadLength = measure.Position;
        if (HeaderLength + payloadLength + HashLength > Array.MaxLength)
        {
            throw new InvalidOperationException($"a checkpoint of {payloadLength} payload bytes does not fit one array");
        }
        var bytes = new byte[HeaderLength + payloadLength + HashLength];
        var writer = new WireWriter(bytes.AsSpan(..^HashLength), nameof(Checkpoint));
        writer.Raw(Magic);
        writer.Byte(Version);
        writer.Int64(payloadLength);
        WritePayload(ref writer, metrics, privacy);
        writer.Finish();
        SHA256.HashData(bytes.AsSpan(HeaderLength, (int)payloadLength), bytes.AsSpan(^HashLength));
        return bytes;
    }

    private void WritePayload(ref WireWriter writer, byte[] metrics, byte[] privacy)
    {
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

    /// <summary>Reads a checkpoint, refusing anything damaged with an <see cref="InvalidDataException"/> that says what.</summary>
    public static Checkpoint FromBytes(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < HeaderLength + HashLength || !span.StartsWith(Magic))
        {
            throw new InvalidDataException("not an AkkaFed checkpoint (bad magic or too short)");
        }
        if (span[Magic.Length] != Version)
        {
            throw new InvalidDataException($"checkpoint format version {span[Magic.Length]}, this build reads {Version}");
        }
        var reader = new WireReader(bytes[..^HashLength], Damaged);
        reader.Skip(Magic.Length + 1, "magic and version");
        long payloadLength = reader.Int64("payload length");
        if (payloadLength != reader.Remaining)
        {
            throw new InvalidDataException($"truncated: the header announces {payloadLength} payload bytes, the file holds {reader.Remaining}");
        }
        Span<byte> hash = stackalloc byte[HashLength];
        SHA256.HashData(span[HeaderLength..^HashLength], hash);
        if (!hash.SequenceEqual(span[^HashLength..]))
        {
            throw new InvalidDataException("checksum mismatch: the file is damaged");
        }

        // The checksum only proves the file is as written: a file crafted with a valid one must still be refused as
        // damaged, never with another exception, so every count is checked against the bytes left before allocating
        // (WireReader does) and every value is checked before it is used.
        int seed = reader.Int32("Seed");
        int round = reader.Int32("Round");
        int failures = reader.Int32("FailuresInARow");
        if (round < 1 || failures < 0)
        {
            throw Damaged($"round {round} with {failures} failures in a row (rounds start at 1, failures at 0)");
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
        var state = new FederatedState(round, weights)
        {
            Optimizer = new ServerOptimizerState(optimizer),
            Privacy = privacy is null ? null : new PrivacyState(privacy.ClipNorm, Ledger(privacy)),
        };
        return new Checkpoint(seed, state, optimizer, failures, metrics) { Privacy = state.Privacy };
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

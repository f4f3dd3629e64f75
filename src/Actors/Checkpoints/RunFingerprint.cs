using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;

namespace AkkaFed.Actors.Checkpoints;

/// <summary>
/// What makes a checkpoint this run's own, written into every checkpoint. A resumed run continues the checkpoint's
/// weights and server-optimizer state and draws its random choices from the seed and the round, so everything that
/// changes what a round computes must match: the model and its parameter count (an architecture changed under the same
/// name shows as another count), the seed, the client fraction and weighting, the server learning rate, the clients'
/// training (epochs, batch size, learning rate, proximal term), and the strategy with all its settings (server
/// optimizer, aggregator, norm bound, over-commitment, DP, FedBuff), and the initial model when one was given
/// (<c>initial-model</c>, by a hash of its weights: a resume with another model's file is refused, not continued as if
/// it were the file's run).
/// </summary>
/// <remarks>
/// Left out, because an operator may change them on a resume without changing a round's arithmetic: the number of
/// rounds, max-failed-rounds, wait-for-clients, min-clients, the round deadline, threads and the clock. The data and
/// its partition are the clients'; the server never sees them. Every strategy setting counts, also one the chosen
/// strategy ignores (server-momentum under fedavg): a list here of which strategy reads which setting would drift from
/// the strategies, and a refusal names the setting, so putting it back is easy.
/// </remarks>
public sealed record RunFingerprint(
    string Model,
    long Parameters,
    int Seed,
    double ClientFraction,
    ClientWeighting Weighting,
    double ServerLearningRate,
    LocalTrainingOptions Local,
    StrategyOptions Strategy,
    // Absent from a run that starts from the seed's weights, so checkpoints written before the setting existed still match.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? InitialModel = null)
{
    // Names as the settings are spelled in HOCON, near enough for a user to find them.
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The fingerprint of the run <paramref name="options"/> describe (builds the model once, to count its parameters).</summary>
    public static RunFingerprint Of(RunOptions options)
    {
        var server = options.Server;
        return new RunFingerprint(Architectures.NameOf(options.Model), InitialWeights.Create(options.Model, server.Seed).Length,
            server.Seed, server.Fraction, server.Weighting, server.ServerLearningRate, server.Local, server.Strategy,
            options.StartingWeights is { } weights ? Hash(weights) : null);
    }

    /// <summary>The weights' identity: the first 128 bits of the SHA-256 of their bytes, as hex.</summary>
    private static string Hash(float[] weights) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(weights.AsSpan())))[..32];

    internal byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    internal static RunFingerprint? FromJson(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize<RunFingerprint>(json, Json);

    /// <summary>Each setting in which <paramref name="theirs"/> differs from this run, with both values; empty for the same run.</summary>
    public IReadOnlyList<(string Setting, string Mine, string Theirs)> Differences(RunFingerprint theirs)
    {
        var mine = Settings();
        var other = theirs.Settings();
        return mine.Keys.Union(other.Keys)
            .Select(key => (Setting: key, Mine: mine.GetValueOrDefault(key, "unset"), Theirs: other.GetValueOrDefault(key, "unset")))
            .Where(setting => setting.Mine != setting.Theirs)
            .ToArray();
    }

    /// <summary>Every setting by its dotted name ("local.epochs", "strategy.beta1"), its value as text.</summary>
    private Dictionary<string, string> Settings()
    {
        var settings = new Dictionary<string, string>();
        Flatten(JsonSerializer.SerializeToNode(this, Json), "");
        return settings;

        void Flatten(JsonNode? node, string name)
        {
            if (node is JsonObject fields)
            {
                foreach (var (key, value) in fields)
                {
                    Flatten(value, name.Length == 0 ? key : $"{name}.{key}");
                }
            }
            else
            {
                settings[name] = node is JsonValue value && value.TryGetValue(out string? text) ? text : node?.ToJsonString() ?? "none";
            }
        }
    }
}

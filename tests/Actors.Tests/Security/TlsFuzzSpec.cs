using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using System.Runtime.CompilerServices;
using Akka.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Security;

/// <summary>Bytes an attacker sends under a manifest of its choosing, as if they were an AkkaFed message.</summary>
public sealed record RawFrame(string Manifest, byte[] Payload);

/// <summary>On the attacker's node only: claims AkkaFed's serializer id and writes whatever bytes it is given.</summary>
public sealed class RawSerializer : SerializerWithStringManifest
{
    public RawSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => FederationSerializer.Id;

    public override string Manifest(object o) => ((RawFrame)o).Manifest;

    public override byte[] ToBinary(object obj) => ((RawFrame)obj).Payload;

    public override object FromBinary(byte[] bytes, string manifest) => new RawFrame(manifest, bytes);
}

/// <summary>
/// A fuzz of every message type through the TLS transport: an insider node sends random and mutated payloads under
/// every manifest to the server and to every client for the whole run. Every node refuses them in its deserializer
/// (or, for a payload that still parses, in the protocol's own checks), and the run ends with the untouched model.
/// </summary>
[Trait("Category", "Security")]
public sealed class TlsFuzzSpec : IClassFixture<UntouchedRun>
{
    private readonly UntouchedRun _untouched;

    public TlsFuzzSpec(UntouchedRun untouched)
    {
        _untouched = untouched;
    }

    /// <summary>One valid message of every type on the wire, to mutate.</summary>
    private static object[] Samples(Address attacker)
    {
        var weights = Enumerable.Range(0, 16).Select(i => i * 0.25f).ToArray();
        var mallory = SecureFederation.Mallory;
        var deployment = X509Pair.Create();
        return
        [
            new RegisterClient(SecureFederation.HonestId(0), 50),
            new ClientRegistered(SecureFederation.HonestId(1)),
            new FitRequest(1, weights, new LocalTrainingOptions(1, 10, 0.05), 3),
            new FitResult(1, SecureFederation.HonestId(2), weights, 50, 0.5, 0.5),
            new FitFailed(2, SecureFederation.HonestId(3), "fuzz"),
            new EvaluateRequest(1, weights),
            new EvaluateResult(1, SecureFederation.HonestId(0), 0.5, 0.5, 50),
            new EvaluateFailed(1, SecureFederation.HonestId(1), "fuzz"),
            new RunEvents.RoundReport(new RoundMetrics(1, true, 1.5, 0.5, 4, 4, 0, 0, 0, 0, 0, 2.5)),
            new RunEvents.Ended(1, "fuzz"),
            new Chunk(7, 0, 2, "FR", "/user/x", new byte[100]),
            deployment.Credentials(mallory).Prove(attacker),
        ];
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = random.Next(6) switch
        {
            0 => valid[..random.Next(valid.Length)],
            1 => valid.Concat(Enumerable.Range(0, random.Next(1, 64)).Select(_ => (byte)random.Next(256))).ToArray(),
            2 => Enumerable.Range(0, random.Next(0, 512)).Select(_ => (byte)random.Next(256)).ToArray(),
            _ => (byte[])valid.Clone(),
        };
        if (bytes.Length == 0)
        {
            return bytes;
        }
        // Flip bytes, or plant a huge or negative 32-bit count somewhere.
        for (int flips = random.Next(1, 4); flips > 0; flips--)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 256);
        }
        if (random.Next(2) == 0 && bytes.Length >= 5)
        {
            int at = random.Next(1, bytes.Length - 3);
            BitConverter.TryWriteBytes(bytes.AsSpan(at), random.Next(2) == 0 ? int.MaxValue : -random.Next(1, 1000));
        }
        return bytes;
    }

    /// <summary>Sends a fresh batch of hostile frames to every target every 50 ms.</summary>
    private sealed class Fuzzer : ReceiveActor, IWithTimers
    {
        public Fuzzer(Func<IReadOnlyList<string>> targets, (string Manifest, byte[] Valid)[] samples, int seed)
        {
            var random = new Random(seed);
            Receive<string>(_ =>
            {
                foreach (var target in targets())
                {
                    foreach (var (manifest, valid) in samples)
                    {
                        Context.ActorSelection(target).Tell(new RawFrame(manifest, Mutate(valid, random)));
                    }
                }
            });
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("fuzz", "fuzz", TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
    }

    /// <summary>Counts the deserialization failures a node logs.</summary>
    private sealed class RefusalCounter : ReceiveActor
    {
        public RefusalCounter(StrongBox<int> count)
        {
            Receive<LogEvent>(log =>
            {
                if (log.Cause is System.Runtime.Serialization.SerializationException || $"{log.Message}".Contains("deserializ", StringComparison.OrdinalIgnoreCase))
                {
                    Interlocked.Increment(ref count.Value);
                }
            });
        }
    }

    [Fact]
    public void Random_and_mutated_payloads_of_every_message_type_over_tls_change_nothing()
    {
        var refused = new StrongBox<int>();
        var outcome = new SecureFederation().Use(f => f.Run(attack: f =>
        {
            f.Server!.EventStream.Subscribe(f.Server.ActorOf(Props.Create(() => new RefusalCounter(refused))), typeof(LogEvent));
            var config = ConfigurationFactory.ParseString($$"""
                    akka.actor.serializers.raw = "{{typeof(RawSerializer).AssemblyQualifiedName}}"
                    akka.actor.serialization-bindings { "{{typeof(RawFrame).AssemblyQualifiedName}}" = raw }
                    akka.actor.serialization-identifiers { "{{typeof(RawSerializer).AssemblyQualifiedName}}" = {{FederationSerializer.Id}} }
                    """)
                .WithFallback(SecureFederation.NodeConfig(ClusterFederation.ClientRole, federationSerializer: false));
            var attacker = f.Node(ClusterFederation.ClientRole, f.Deployment.Credentials(SecureFederation.Mallory), config);
            var codec = new FederationSerializer((ExtendedActorSystem)attacker);
            var samples = Samples(Akka.Cluster.Cluster.Get(attacker).SelfAddress).Select(m => (codec.Manifest(m), codec.ToBinary(m))).ToArray();
            Func<IReadOnlyList<string>> targets = () => f.Clients is null
                ? new[] { f.ServerPath }
                : new[] { f.ServerPath }.Concat(Enumerable.Range(0, SecureFederation.HonestClients).Select(f.ClientPath)).ToArray();
            attacker.ActorOf(Props.Create(() => new Fuzzer(targets, samples, 12)), "fuzzer");
        }));

        Assert.Null(outcome.Ended.Failure);
        Assert.All(outcome.Rounds, round => Assert.True(round.Succeeded, round.FailureReason));
        Assert.Equal(_untouched.Model, outcome.Model);
        Assert.True(refused.Value > 0, "no hostile payload reached the server's deserializer");
    }
}

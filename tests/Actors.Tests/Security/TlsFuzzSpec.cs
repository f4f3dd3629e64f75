using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using System.Runtime.CompilerServices;
using Akka.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Actors.Tests.Serialization;
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
                        Context.ActorSelection(target).Tell(new RawFrame(manifest, WireSamples.Mutate(valid, random)));
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
            var samples = WireSamples.EveryManifest.Select(m => (codec.Manifest(m), codec.ToBinary(m))).ToArray();
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

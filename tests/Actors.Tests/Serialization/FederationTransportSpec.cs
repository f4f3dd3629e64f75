using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;
using static AkkaFed.Actors.Tests.Serialization.WireSamples;

namespace AkkaFed.Actors.Tests.Serialization;

/// <summary>
/// Two ActorSystems in one process talking over Akka.Remote on loopback, with the default frame limit: what a protocol
/// actor on the receiving node sees of messages sent through <see cref="FederationTransport"/>.
/// </summary>
public sealed class FederationTransportSpec : TestKit
{
    private static readonly Config Remote = ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        """).WithFallback(FederationSerialization.Config);

    // Generous: these wait for megabytes over loopback on a shared machine, and bound nothing that is tested.
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(1);

    private readonly ActorSystem _senderSystem;
    private readonly bool _startedWithTheSystem;

    public FederationTransportSpec() : base(Remote, "receiver")
    {
        _startedWithTheSystem = Sys.HasExtension<FederationTransport>();
        _senderSystem = ActorSystem.Create("sender", Remote);
    }

    protected override void AfterAll()
    {
        Shutdown(_senderSystem, verifySystemShutdown: true);
        base.AfterAll();
    }

    private Address ReceiverAddress => ((ExtendedActorSystem)Sys).Provider.DefaultAddress;

    private Address SenderAddress => ((ExtendedActorSystem)_senderSystem).Provider.DefaultAddress;

    /// <summary>How the sending node refers to <paramref name="local"/>, an actor of the receiving node: no round trip needed.</summary>
    private IActorRef Remotely(IActorRef local) =>
        ((ExtendedActorSystem)_senderSystem).Provider.ResolveActorRef(local.Path.ToStringWithAddress(ReceiverAddress));

    [Fact]
    public void The_default_frame_limit_is_in_force()
    {
        // The tests below prove something only while frames are limited to 128,000 bytes.
        Assert.Equal(128_000, Sys.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null));
        Assert.Equal(128_000, _senderSystem.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null));
    }

    [Fact]
    public void Every_node_with_the_federation_config_starts_its_transport_with_the_system()
    {
        // A node that only receives (a client node before its first reply) must already join chunks.
        Assert.True(_startedWithTheSystem);
        Assert.True(_senderSystem.HasExtension<FederationTransport>());
        Assert.Equal(FederationTransport.ReassemblerPath, FederationTransport.Get(Sys).Reassembler.Path.ToStringWithoutAddress());
    }

    [Fact]
    public void A_full_cnn_update_reaches_a_plain_probe_whole_with_its_original_sender()
    {
        var result = BigResult();
        var target = CreateTestProbe("target");
        var client = CreateTestProbe(_senderSystem, "client");
        var prepared = FederationTransport.Get(_senderSystem).Prepare(result);

        long bytes = prepared.Tell(Remotely(target.Ref), client.Ref);

        Assert.True(bytes > 128_000, $"{bytes} bytes would fit one frame: nothing here would need chunks");
        Assert.Equal(WireSize.Of(result), bytes);
        Assert.True(prepared.ChunkCount > 1);
        // Its first message is the whole update: no piece of it came first, and none can come after the whole.
        var received = target.ExpectMsg<FitResult>(Patience);
        AssertSame(result, received);
        Assert.Equal(WireSize.Of(result), WireSize.Received(received, target.LastSender));
        // The original sender, as a ref that works: a reply reaches the client on the other node.
        Assert.Equal(client.Ref.Path.ToStringWithAddress(SenderAddress), target.LastSender.Path.ToString());
        target.LastSender.Tell(new ClientRegistered("reply"));
        Assert.Equal("reply", client.ExpectMsg<ClientRegistered>(Patience).ClientId);
        // Its weights are this node's, from this node's pool.
        WeightBuffers.Get(Sys).Return(received.Delta.Values);
        Assert.Same(received.Delta.Values, WeightBuffers.Get(Sys).Rent(received.Delta.Length));
    }

    [Fact]
    public void The_same_update_sent_whole_never_arrives_but_the_link_stays_up()
    {
        // Akka.Remote keeps its OversizedPayloadException internal, so it is recognised by name.
        var errors = CreateTestProbe(_senderSystem);
        _senderSystem.EventStream.Subscribe(errors.Ref, typeof(Error));
        var target = CreateTestProbe();

        Remotely(target.Ref).Tell(BigResult());

        var error = errors.FishForMessage<Error>(e => e.Cause?.GetType().Name == "OversizedPayloadException", Patience);
        Assert.Contains("max allowed size 128000 bytes", error.Cause.Message);

        // The link still works: only the oversized frame was discarded, and this is the next message that arrives.
        Remotely(target.Ref).Tell(new ClientRegistered("after"));
        Assert.Equal("after", target.ExpectMsg<ClientRegistered>(Patience).ClientId);
    }

    [Fact]
    public void A_broadcast_to_two_targets_on_one_node_is_serialized_once()
    {
        var request = BigRequest();
        var first = CreateTestProbe("first");
        var second = CreateTestProbe("second");
        var prepared = FederationTransport.Get(_senderSystem).Prepare(request);

        long toFirst = prepared.Tell(Remotely(first.Ref), null);
        // Were it serialized again per target, the second target would see this change.
        var sent = request with { Weights = (float[])request.Weights.Values!.Clone() };
        request.Weights.Values![0] = 42f;
        long toSecond = prepared.Tell(Remotely(second.Ref), null);

        Assert.Equal(toFirst, toSecond);
        Assert.Equal(prepared.SerializedSize, toFirst);
        int chunkSize = FederationTransport.Get(_senderSystem).ChunkSize;
        Assert.Equal((prepared.SerializedSize + chunkSize - 1) / chunkSize, prepared.ChunkCount);
        var toA = first.ExpectMsg<FitRequest>(Patience);
        var toB = second.ExpectMsg<FitRequest>(Patience);
        AssertSame(sent, toA);
        AssertSame(sent, toB);
        Assert.NotSame(toA.Weights, toB.Weights);
    }

    [Fact]
    public void A_small_message_travels_whole_and_its_size_is_its_wire_size()
    {
        var target = CreateTestProbe();
        var message = new FitResult(1, "small", Weights(100, 3), 5, 0.5, 0.5);

        long bytes = FederationTransport.Get(_senderSystem).Tell(Remotely(target.Ref), message, null);

        AssertSame(message, target.ExpectMsg<FitResult>(Patience));
        Assert.Equal(1 + 4 + 4 + 5 + 1 + 4 + 400 + 4 + 8 + 8, bytes); // the 1 after the id: the codec
        Assert.Equal(bytes, WireSize.Of(message));
        Assert.Equal(0, FederationTransport.Get(_senderSystem).Prepare(message).ChunkCount);
    }

    [Fact]
    public void A_local_target_gets_the_message_object_itself_for_free()
    {
        var transport = FederationTransport.Get(Sys);
        // Unserializable on purpose: a local send must not even try.
        var message = new FitResult(1, null!, Weights(200_000, 4), 5, 0.5, 0.5);

        Assert.Equal(0, transport.Tell(TestActor, message, null));
        Assert.Same(message, ExpectMsg<FitResult>());
        Assert.Equal(0, WireSize.Received(message, LastSender));

        var prepared = transport.Prepare(message);
        Assert.Equal(0, prepared.Tell(TestActor, null));
        Assert.Same(message, ExpectMsg<FitResult>());
    }

    [Fact]
    public void Malformed_chunks_are_dropped_with_a_log_line_and_never_reach_the_target()
    {
        var target = CreateTestProbe();
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Warning));
        var sender = CreateTestProbe(_senderSystem);
        var reassembler = ((ExtendedActorSystem)_senderSystem).Provider.ResolveActorRef(
            $"{ReceiverAddress}{FederationTransport.ReassemblerPath}");
        var result = BigResult();
        var chunks = FederationTransport.Get(_senderSystem).Prepare(result).ChunksFor(Remotely(target.Ref));
        // Two pieces that join into bytes of another format version, then a transfer whose pieces disagree.
        var garbled = new byte[chunks[0].Data.Length];
        chunks[0].Data.CopyTo(garbled);
        garbled[0] = 9;
        var recipient = chunks[0].Recipient;

        reassembler.Tell(new Chunk(1, 0, 2, "FR", recipient, garbled), sender.Ref);
        reassembler.Tell(new Chunk(1, 1, 2, "FR", recipient, chunks[1].Data), sender.Ref);
        reassembler.Tell(new Chunk(2, 0, 3, "FR", recipient, chunks[0].Data), sender.Ref);
        reassembler.Tell(new Chunk(2, 1, 4, "FR", recipient, chunks[1].Data), sender.Ref);

        var first = warnings.FishForMessage<Warning>(w => w.Message.ToString()!.Contains("Dropped a message"), Patience);
        Assert.Contains("unsupported format version 9", first.Message.ToString());
        var second = warnings.FishForMessage<Warning>(w => w.Message.ToString()!.Contains("Dropped a message"), Patience);
        Assert.Contains("inconsistent with earlier pieces", second.Message.ToString());
        // The same sender's next, sound message comes through the same reassembler after them: it is the first the
        // target sees, so nothing of the malformed ones reached it.
        foreach (var chunk in chunks)
        {
            reassembler.Tell(chunk, sender.Ref);
        }
        AssertSame(result, target.ExpectMsg<FitResult>(Patience));
    }

    [Fact]
    public void A_chunk_size_that_cannot_fit_a_frame_is_refused()
    {
        var config = ConfigurationFactory.ParseString($"{FederationTransport.ChunkSizeSetting} = 126KiB").WithFallback(Remote);

        var e = Assert.ThrowsAny<Exception>(() =>
        {
            using var system = ActorSystem.Create("oversized", config);
            FederationTransport.Get(system);
        });

        var refusal = Assert.IsType<ConfigurationException>(e.GetBaseException());
        Assert.Contains($"{FederationTransport.ChunkSizeSetting}: a chunk of 129024 bytes does not fit the remote frame limit of 128000 bytes",
            refusal.Message);
        Assert.Equal(120 * 1024, ChunkSizeOf(ConfigurationFactory.ParseString($"{FederationTransport.ChunkSizeSetting} = 120KiB")));
        Assert.Equal(FederationTransport.DefaultChunkSize, ChunkSizeOf(Config.Empty));
    }

    private int ChunkSizeOf(Config config)
    {
        using var system = ActorSystem.Create("sized", config.WithFallback(Remote));
        return FederationTransport.Get(system).ChunkSize;
    }

    [Fact]
    public void Sending_remotely_without_the_serializer_binding_fails_fast()
    {
        using var unbound = ActorSystem.Create("unbound", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            """));
        var target = ((ExtendedActorSystem)unbound).Provider.ResolveActorRef(TestActor.Path.ToStringWithAddress(ReceiverAddress));

        var e = Assert.Throws<InvalidOperationException>(() =>
            FederationTransport.Get(unbound).Tell(target, new ClientRegistered("x"), null));

        Assert.Contains("FederationSerialization.Config", e.Message);
    }
}

using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Serialization;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;
using static AkkaFed.Actors.Tests.Serialization.WireSamples;

namespace AkkaFed.Actors.Tests.Serialization;

/// <summary>A receiving actor as the server and clients will have it: chunks are joined, whole messages handled.</summary>
internal sealed class AssemblingReceiver : ReceiveActor
{
    public sealed record Joined(long Bytes);

    private readonly ChunkAssembler _assembler;

    public AssemblingReceiver(IActorRef report)
    {
        _assembler = new ChunkAssembler(WeightBuffers.Get(Context.System));
        Receive<Chunk>(chunk =>
        {
            if (_assembler.TryAdd(chunk, Sender, out var message, out var bytes))
            {
                report.Tell(new Joined(bytes));
                Self.Tell(message, Sender);
            }
        });
        Receive<IFederationMessage>(message => report.Forward(message));
    }

    public static Props Props(IActorRef report) => Akka.Actor.Props.Create(() => new AssemblingReceiver(report));
}

/// <summary>Two ActorSystems in one process talking over Akka.Remote on loopback, with the default frame limit.</summary>
public sealed class ChunkedTransferSpec : TestKit
{
    private static readonly Config Remote = ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        """).WithFallback(FederationSerialization.Config);

    private readonly ActorSystem _senderSystem;
    private readonly IActorRef _remoteReceiver;

    public ChunkedTransferSpec() : base(Remote, "receiver")
    {
        _senderSystem = ActorSystem.Create("sender", Remote);
        Sys.ActorOf(AssemblingReceiver.Props(TestActor), "receiver");
        var address = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
        _remoteReceiver = _senderSystem.ActorSelection(new RootActorPath(address) / "user" / "receiver")
            .ResolveOne(TimeSpan.FromSeconds(10)).Result;
    }

    protected override void AfterAll()
    {
        Shutdown(_senderSystem, verifySystemShutdown: true);
        base.AfterAll();
    }

    [Fact]
    public void The_default_frame_limit_is_in_force()
    {
        // The next two tests prove something only while frames are limited to 128,000 bytes.
        Assert.Equal(128_000, Sys.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null));
        Assert.Equal(128_000, _senderSystem.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null));
    }

    [Fact]
    public void A_full_cnn_update_arrives_bit_exact_in_chunks()
    {
        var result = BigResult();
        var transfer = new ChunkedTransfer(_senderSystem);
        var client = CreateTestProbe(_senderSystem, "client");

        long bytes = transfer.Tell(_remoteReceiver, result, client.Ref);

        Assert.InRange(bytes, 4L * CnnFloats, 4L * CnnFloats * 101 / 100);
        Assert.Equal(bytes, ExpectMsg<AssemblingReceiver.Joined>(TimeSpan.FromSeconds(30)).Bytes);
        AssertSame(result, ExpectMsg<FitResult>());
        // The joined message keeps its original sender.
        var senderAddress = ((ExtendedActorSystem)_senderSystem).Provider.DefaultAddress;
        Assert.Equal(client.Ref.Path.ToStringWithAddress(senderAddress), LastSender.Path.ToString());
    }

    [Fact]
    public void The_same_update_sent_whole_never_arrives_but_the_link_stays_up()
    {
        // Akka.Remote keeps its OversizedPayloadException internal, so it is recognised by name.
        var errors = CreateTestProbe(_senderSystem);
        _senderSystem.EventStream.Subscribe(errors.Ref, typeof(Akka.Event.Error));

        _remoteReceiver.Tell(BigResult());

        var error = errors.FishForMessage<Akka.Event.Error>(e => e.Cause?.GetType().Name == "OversizedPayloadException", TimeSpan.FromSeconds(10));
        Assert.Contains("max allowed size 128000 bytes", error.Cause.Message);
        ExpectNoMsg(TimeSpan.FromSeconds(1));

        // The link still works: only the oversized frame was discarded.
        _remoteReceiver.Tell(new ClientRegistered("after"));
        Assert.Equal("after", ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(10)).ClientId);
    }

    [Fact]
    public async Task A_prepared_request_reaches_many_remote_targets_from_one_serialization()
    {
        var request = BigRequest();
        var prepared = new ChunkedTransfer(_senderSystem).Prepare(request);
        var second = Sys.ActorOf(AssemblingReceiver.Props(TestActor), "second");
        var secondRemote = await _senderSystem.ActorSelection(second.Path.ToStringWithAddress(((ExtendedActorSystem)Sys).Provider.DefaultAddress))
            .ResolveOne(TimeSpan.FromSeconds(10));

        long toFirst = prepared.Tell(_remoteReceiver, null);
        // Were it serialized again per target, the second target would see this change.
        var sent = request with { Weights = (float[])request.Weights.Clone() };
        request.Weights[0] = 42f;
        long toSecond = prepared.Tell(secondRemote, null);

        Assert.Equal(toFirst, toSecond);
        Assert.Equal(prepared.SerializedSize, toFirst);
        Assert.Equal((prepared.SerializedSize + ChunkedTransfer.DefaultChunkSize - 1) / ChunkedTransfer.DefaultChunkSize, prepared.ChunkCount);
        for (int i = 0; i < 2; i++)
        {
            ExpectMsg<AssemblingReceiver.Joined>(TimeSpan.FromSeconds(30));
            AssertSame(sent, ExpectMsg<FitRequest>(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public void A_small_message_travels_whole()
    {
        var transfer = new ChunkedTransfer(_senderSystem);
        var message = new FitResult(1, "small", Weights(100, 3), 5, 0.5, 0.5);

        long bytes = transfer.Tell(_remoteReceiver, message, null);

        AssertSame(message, ExpectMsg<FitResult>(TimeSpan.FromSeconds(10)));
        Assert.Equal(1 + 4 + 4 + 5 + 4 + 400 + 4 + 8 + 8, bytes);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // no Joined: no chunks were made
    }

    [Fact]
    public void A_local_target_gets_the_message_object_itself_for_free()
    {
        var transfer = new ChunkedTransfer(Sys);
        // Unserializable on purpose: a local send must not even try.
        var message = new FitResult(1, null!, Weights(200_000, 4), 5, 0.5, 0.5);

        Assert.Equal(0, transfer.Tell(TestActor, message, null));
        Assert.Same(message, ExpectMsg<FitResult>());

        var prepared = transfer.Prepare(message);
        Assert.Equal(0, prepared.Tell(TestActor, null));
        Assert.Same(message, ExpectMsg<FitResult>());
    }

    [Fact]
    public void A_chunk_size_that_cannot_fit_a_frame_is_refused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkedTransfer(_senderSystem, chunkSize: 126 * 1024));
        Assert.Contains("frame limit of 128000 bytes", e.Message);
        Assert.Equal(120 * 1024, new ChunkedTransfer(_senderSystem, chunkSize: 120 * 1024).ChunkSize);
    }

    [Fact]
    public async Task Sending_remotely_without_the_serializer_binding_fails_fast()
    {
        using var unbound = ActorSystem.Create("unbound", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            """));
        var target = await unbound.ActorSelection(_remoteReceiver.Path.ToString()).ResolveOne(TimeSpan.FromSeconds(10));

        var e = Assert.Throws<InvalidOperationException>(() => new ChunkedTransfer(unbound).Tell(target, new ClientRegistered("x"), null));

        Assert.Contains("FederationSerialization.Config", e.Message);
    }
}

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
/// The node's reassembler as an actor: its limits read from <c>akkafed.transport</c>, its expiry of idle transfers on
/// TestKit's scheduler (moved by hand, so nothing here waits for a clock), and its survival of hostile chunks. Chunks
/// are told to it directly, as a remote node's would arrive.
/// </summary>
public sealed class ChunkReassemblerSpec : TestKit
{
    private static readonly Config Settings = ConfigurationFactory.ParseString("""
        akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
        akkafed.transport {
          chunk-size = 1KiB
          max-in-flight = 2
          max-age = 60s
          sweep-interval = 10s
        }
        """).WithFallback(FederationSerialization.Config);

    private static readonly TimeSpan Sweep = TimeSpan.FromSeconds(10);

    // Generous: a shared machine may be slow to pass a message on; this bounds nothing that is tested.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly TestProbe _warnings;

    public ChunkReassemblerSpec() : base(Settings)
    {
        _warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(_warnings.Ref, typeof(Warning));
    }

    private IActorRef Reassembler => FederationTransport.Get(Sys).Reassembler;

    private static FitResult Result(string id) => new(3, id, Weights(1000, id.Length), 60, 0.5, 0.75);

    /// <summary>The chunks that carry <paramref name="message"/> to <paramref name="target"/>, as a remote node would send them.</summary>
    private IReadOnlyList<Chunk> ChunksOf(FitResult message, TestProbe target)
    {
        var chunks = FederationTransport.Get(Sys).Prepare(message).ChunksFor(target.Ref);
        Assert.True(chunks.Count > 2);
        return chunks;
    }

    private void Send(IEnumerable<Chunk> chunks, TestProbe sender)
    {
        foreach (var chunk in chunks)
        {
            Reassembler.Tell(chunk, sender.Ref);
        }
    }

    private string NextWarning(string containing) =>
        _warnings.FishForMessage<Warning>(w => w.Message.ToString()!.Contains(containing), Patience).Message.ToString()!;

    private void Tick(int times)
    {
        for (int i = 0; i < times; i++)
        {
            // One interval at a time: TestScheduler fires a periodic timer at most once per Advance.
            ((TestScheduler)Sys.Scheduler).Advance(Sweep);
        }
    }

    [Fact]
    public void The_node_has_one_budget_for_all_its_recipients_and_senders_read_from_its_configuration()
    {
        var targets = Enumerable.Range(1, 3).Select(i => CreateTestProbe($"target-{i}")).ToArray();
        var senders = Enumerable.Range(1, 3).Select(i => CreateTestProbe($"sender-{i}")).ToArray();
        var chunks = targets.Select((t, i) => ChunksOf(Result($"r-{i + 1}"), t)).ToArray();
        Send(chunks[0].Take(1), senders[0]);
        Send(chunks[1].Take(1), senders[1]);

        // A third recipient, from a third sender: still the same node, whose max-in-flight = 2 is reached.
        Send(chunks[2].Take(1), senders[2]);

        var refusal = NextWarning("Refused transfer");
        Assert.Contains($"from {senders[2].Ref.Path}: this node has 2 unfinished transfers, the most it holds (akkafed.transport.max-in-flight)",
            refusal);
        Send(chunks[0].Skip(1), senders[0]);
        Send(chunks[1].Skip(1), senders[1]);
        Assert.Equal("r-1", targets[0].ExpectMsg<FitResult>(Patience).ClientId);
        Assert.Equal("r-2", targets[1].ExpectMsg<FitResult>(Patience).ClientId);
        Assert.Equal(senders[0].Ref, targets[0].LastSender);
        // The rest of the refused transfer reaches nobody; the first message the third target gets is a later one.
        Send(chunks[2].Skip(1), senders[2]);
        Send(ChunksOf(Result("later"), targets[2]), senders[2]);
        Assert.Equal("later", targets[2].ExpectMsg<FitResult>(Patience).ClientId);
    }

    [Fact]
    public void A_transfer_idle_for_max_age_is_dropped_by_the_timer_without_waiting_for_another()
    {
        var target = CreateTestProbe();
        var sender = CreateTestProbe();
        // Once a message has come through, the reassembler has started and its timer runs.
        Send(ChunksOf(Result("first"), target), sender);
        Assert.Equal("first", target.ExpectMsg<FitResult>(Patience).ClientId);
        var idle = ChunksOf(Result("idle"), target);
        var slow = ChunksOf(Result("slow"), target);
        Send(idle.Take(1), sender);
        Send(slow.Take(1), sender);

        Tick(5);
        // 50 s without a piece is within max-age: the slow transfer still completes.
        Send(slow.Skip(1), sender);
        Assert.Equal("slow", target.ExpectMsg<FitResult>(Patience).ClientId);
        Tick(2);

        Assert.Contains("Dropped 1 unfinished transfer(s) that received nothing for over 00:01:00", NextWarning("unfinished transfer"));
        // Its rest, arriving late, completes nothing: the next message the target gets is the one after it.
        Send(idle.Skip(1), sender);
        Send(ChunksOf(Result("after"), target), sender);
        Assert.Equal("after", target.ExpectMsg<FitResult>(Patience).ClientId);
    }

    [Fact]
    public void Hostile_chunks_are_dropped_with_a_warning_and_never_restart_the_reassembler()
    {
        var target = CreateTestProbe("target");
        var sender = CreateTestProbe();
        var good = ChunksOf(Result("good"), target);
        var recipient = good[0].Recipient;
        var whole = Sys.Serialization.FindSerializerFor(new FitFailed(1, "c", "x")).ToBinary(new FitFailed(1, "c", "x"));
        // Half of a sound transfer is held: were the reassembler restarted, it would be lost and never complete.
        Send(good.Take(2), sender);

        Send(new[]
        {
            new Chunk(9, -1, 4, "FR", recipient, new byte[] { 1 }),
            new Chunk(9, int.MaxValue, 4, "FR", recipient, new byte[] { 1 }),
            new Chunk(9, 0, 0, "FR", recipient, new byte[] { 1 }),
            new Chunk(9, 0, int.MinValue, "FR", recipient, new byte[] { 1 }),
            new Chunk(9, 0, 4, null!, recipient, new byte[] { 1 }),
            new Chunk(9, 0, 4, "FR", null!, new byte[] { 1 }),
            new Chunk(9, 0, 4, "FR", recipient, default),
        }, CreateTestProbe());
        // A transfer whose second piece declares another count than its first.
        Send(new[]
        {
            new Chunk(10, 0, 3, "FR", recipient, new byte[] { 1, 2 }),
            new Chunk(10, 1, 4, "FR", recipient, new byte[] { 1, 2 }),
        }, sender);
        // Whole messages for recipients that are not actors of this node, or not paths at all.
        foreach (var nowhere in new[] { "/user/nobody", "/user/a#not-a-uid", "/user/%zz/../..", "/ /", "/system/akkafed-transport" })
        {
            Reassembler.Tell(new Chunk(11, 0, 1, "FF", nowhere, whole), sender.Ref);
        }

        NextWarning("Index -1 is outside 0..3");
        Assert.Contains("/user/a#not-a-uid is not an actor path of this node", NextWarning("is not an actor path"));
        Send(good.Skip(2), sender);
        Assert.Equal("good", target.ExpectMsg<FitResult>(Patience).ClientId);
        Assert.Equal(sender.Ref, target.LastSender);
    }
}

using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;
using static AkkaFed.Actors.Tests.Serialization.WireSamples;

namespace AkkaFed.Actors.Tests.Serialization;

public sealed class ChunkAssemblerSpec : TestKit
{
    private readonly ManualTime _time = new();
    private readonly IActorRef _alice;
    private readonly IActorRef _bob;
    private readonly ActorSystem _elsewhere = ActorSystem.Create("elsewhere");
    // Alice and Bob live on this node; Carol on another, so she is another sender for the quotas.
    private readonly IActorRef _carol;

    public ChunkAssemblerSpec() : base(FederationSerialization.Config)
    {
        _alice = CreateTestProbe("alice").Ref;
        _bob = CreateTestProbe("bob").Ref;
        _carol = CreateTestProbe(_elsewhere, "carol").Ref;
    }

    protected override void AfterAll()
    {
        Shutdown(_elsewhere);
        base.AfterAll();
    }

    /// <summary>Limits small enough to fill in a test: one transfer of up to 6000 bytes in up to 8 pieces.</summary>
    private static readonly ChunkAssemblerOptions Small = new() { MaxTransferBytes = 6000, MaxPieces = 8 };

    /// <summary>What a transfer of <paramref name="pieces"/> pieces of <paramref name="length"/> bytes to <see cref="Server"/> reserves.</summary>
    private static long Reserves(int pieces, int length) =>
        (long)pieces * (length + ChunkAssembler.PieceOverheadBytes + Server.Length);

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    private const string Server = "/user/server";

    private ChunkAssembler Assembler(ChunkAssemblerOptions? options = null) => new(WeightBuffers.Get(Sys), options, _time);

    private byte[] Serialized(object message) => Sys.Serialization.FindSerializerFor(message).ToBinary(message);

    /// <summary>Cuts a message the way <see cref="FederationTransport"/> does: equal pieces, the last no longer.</summary>
    private List<Chunk> Cut(object message, int pieceSize, long transferId = 1, string recipient = Server)
    {
        var bytes = Serialized(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(Sys.Serialization.FindSerializerFor(message), message);
        var pieces = bytes.Chunk(pieceSize).ToList();
        return pieces.Select((data, i) => new Chunk(transferId, i, pieces.Count, manifest, recipient, data)).ToList();
    }

    private static Chunk Piece(long transferId, int index, int count, string manifest, byte[] data) =>
        new(transferId, index, count, manifest, Server, data);

    private static FitResult Result(int floats = 1000, string id = "c-1", int seed = 1) =>
        new(3, id, Weights(floats, seed), 60, 0.5, 0.75);

    /// <summary>Adds every piece; returns the message the last one completed, failing if any other completed one.</summary>
    private static object AddAll(ChunkAssembler assembler, IEnumerable<Chunk> chunks, IActorRef sender, out long bytes)
    {
        var pieces = chunks.ToList();
        bytes = 0;
        object? completed = null;
        for (int i = 0; i < pieces.Count; i++)
        {
            bool done = assembler.TryAdd(pieces[i], sender, out var message, out var size, out var rejection);
            Assert.Null(rejection);
            Assert.Equal(i == pieces.Count - 1, done);
            if (done)
            {
                completed = message;
                bytes = size;
            }
        }
        return completed!;
    }

    [Fact]
    public void Pieces_in_order_complete_the_message_once_with_its_serialized_size()
    {
        var assembler = Assembler();
        var result = Result();
        var chunks = Cut(result, pieceSize: 512);
        Assert.True(chunks.Count > 5);

        var back = AddAll(assembler, chunks, _alice, out var bytes);

        AssertSame(result, back);
        Assert.Equal(Serialized(result).Length, bytes);
        Assert.Equal((0, 0L, 1L), (assembler.InFlight, assembler.BufferedBytes, assembler.Completed));
    }

    [Fact]
    public void Pieces_out_of_order_are_accepted()
    {
        var assembler = Assembler();
        var result = Result();
        var chunks = Cut(result, pieceSize: 300);
        var shuffled = chunks.OrderBy(c => c.Index == 2 ? -1 : c.Index == chunks.Count - 1 ? 0 : 1 + (c.Index * 7919) % chunks.Count).ToList();
        Assert.Equal(chunks.Count - 1, shuffled[1].Index);

        AssertSame(result, AddAll(assembler, shuffled, _alice, out _));
        AssertSame(result, AddAll(assembler, Enumerable.Reverse(Cut(result, 300, transferId: 2)), _alice, out _));
    }

    [Fact]
    public void Fields_split_across_pieces_are_read_in_place()
    {
        // Pieces of a few bytes split every integer, string and float between pieces.
        var result = new FitResult(-3, "ça-δ-🚀", Awkward, 60, double.NaN, -0.0);
        var failed = new FitFailed(8, "東京", "λ went wrong");
        for (int size = 1; size <= 9; size++)
        {
            var assembler = Assembler();
            AssertSame(result, AddAll(assembler, Cut(result, size, transferId: size), _alice, out var bytes));
            Assert.Equal(Serialized(result).Length, bytes);
            Assert.Equal(failed, AddAll(assembler, Cut(failed, size, transferId: -size), _alice, out _));
        }
    }

    [Fact]
    public void A_single_piece_completes_at_once_and_holds_nothing()
    {
        var assembler = Assembler();
        var message = new FitFailed(2, "c-9", "boom");
        var piece = Piece(5, 0, 1, "FF", Serialized(message));

        Assert.True(assembler.TryAdd(piece, _alice, out var back, out var bytes));

        Assert.Equal(message, back);
        Assert.Equal(piece.Data.Length, bytes);
        Assert.Equal(0, assembler.InFlight);
    }

    [Fact]
    public void Interleaved_transfers_from_two_senders_with_the_same_id_stay_apart()
    {
        var assembler = Assembler();
        var fromAlice = Result(id: "alice", seed: 1);
        var fromBob = Result(id: "bob", seed: 2);
        var a = Cut(fromAlice, 400, transferId: 7);
        var b = Cut(fromBob, 400, transferId: 7);
        Assert.Equal(a.Count, b.Count);

        var done = new List<object>();
        for (int i = 0; i < a.Count; i++)
        {
            if (assembler.TryAdd(a[i], _alice, out var m1, out _))
            {
                done.Add(m1);
            }
            Assert.Equal(i == 0 || i == a.Count - 1 ? 1 : 2, assembler.InFlight);
            if (assembler.TryAdd(b[i], _bob, out var m2, out _))
            {
                done.Add(m2);
            }
        }

        Assert.Equal(2, done.Count);
        AssertSame(fromAlice, done[0]);
        AssertSame(fromBob, done[1]);
        Assert.Equal(0, assembler.Failed);
    }

    [Fact]
    public void One_broadcast_to_two_recipients_on_a_node_is_joined_once_for_each()
    {
        // A broadcast gives every target the same transfer id from the same sender; the recipient keeps them apart.
        var assembler = Assembler();
        var request = new FitRequest(4, Weights(1000, 5), new(), 9);
        var first = Cut(request, 400, transferId: 3, recipient: "/user/client-1");
        var second = Cut(request, 400, transferId: 3, recipient: "/user/client-2");

        var done = new List<FitRequest>();
        foreach (var (a, b) in first.Zip(second))
        {
            foreach (var chunk in new[] { a, b })
            {
                if (assembler.TryAdd(chunk, _alice, out var message, out _, out var rejection))
                {
                    done.Add(Assert.IsType<FitRequest>(message));
                }
                Assert.Null(rejection);
            }
        }

        Assert.Equal(2, done.Count);
        Assert.All(done, back => AssertSame(request, back));
        Assert.NotSame(done[0].Weights, done[1].Weights);
    }

    [Fact]
    public void Joined_weights_come_from_the_pool_of_the_system()
    {
        var result = Result(floats: WeightBuffers.MinLength + 77);
        var back = Assert.IsType<FitResult>(AddAll(Assembler(), Cut(result, 16_000), _alice, out _));

        WeightBuffers.Get(Sys).Return(back.Delta.Values);

        Assert.Same(back.Delta.Values, WeightBuffers.Get(Sys).Rent(back.Delta.Length));
    }

    [Fact]
    public void A_duplicate_piece_fails_its_transfer_and_leaves_the_others_alone()
    {
        var assembler = Assembler();
        var a = Cut(Result(id: "alice"), 400, transferId: 1);
        var b = Cut(Result(id: "bob"), 400, transferId: 2);
        assembler.TryAdd(a[0], _alice, out _, out _);
        assembler.TryAdd(b[0], _bob, out _, out _);
        assembler.TryAdd(a[1], _alice, out _, out _);

        Assert.False(assembler.TryAdd(a[1], _alice, out var message, out _, out var rejection));

        Assert.Null(message);
        Assert.NotNull(rejection);
        Assert.Contains("duplicate piece", rejection.Message);
        Assert.Contains("chunk 1 of transfer 1", rejection.Message);
        Assert.Equal((1, 1L), (assembler.InFlight, assembler.Failed));
        AssertSame(Result(id: "bob"), AddAll(assembler, b.Skip(1), _bob, out _));
    }

    public static TheoryData<string, Chunk> BadFirstPieces() => new()
    {
        { "Index 4 is outside 0..3", Piece(1, 4, 4, "FR", new byte[] { 1 }) },
        { "Index -1 is outside 0..3", Piece(1, -1, 4, "FR", new byte[] { 1 }) },
        { "Count 0 is outside 1..65536", Piece(1, 0, 0, "FR", new byte[] { 1 }) },
        { "Count 65537 is outside 1..65536", Piece(1, 0, 65_537, "FR", new byte[] { 1 }) },
        { "manifest 'CK' is not a federation message", Piece(1, 0, 2, "CK", new byte[] { 1 }) },
        { "recipient 'user/server' is not the path of an actor", new Chunk(1, 0, 2, "FR", "user/server", new byte[] { 1 }) },
        { "recipient '' is not the path of an actor", new Chunk(1, 0, 2, "FR", "", new byte[] { 1 }) },
        { "manifest 'XX' is not a federation message", Piece(1, 0, 2, "XX", new byte[] { 1 }) },
        { "the piece carries no data", Piece(1, 0, 2, "FR", Array.Empty<byte>()) },
        { "the recipient's path is longer than 1024 bytes", new Chunk(1, 0, 2, "FR", "/user/" + new string('x', 1019), new byte[] { 1 }) },
        { "4000 pieces imply at least 3999000001 bytes, over the limit of 268435456", Piece(1, 0, 4000, "FR", new byte[1_000_000]) },
    };

    [Theory]
    [MemberData(nameof(BadFirstPieces))]
    public void A_bad_piece_is_rejected_with_the_reason(string reason, Chunk chunk)
    {
        var assembler = Assembler();

        Assert.False(assembler.TryAdd(chunk, _alice, out _, out _, out var rejection));

        Assert.NotNull(rejection);
        Assert.Contains(reason, rejection.Message);
        Assert.Equal((0, 1L), (assembler.InFlight, assembler.Failed));
    }

    [Fact]
    public void Pieces_that_disagree_with_earlier_ones_fail_the_transfer()
    {
        void Expect(string reason, Chunk first, Chunk second)
        {
            var assembler = Assembler();
            Assert.False(assembler.TryAdd(first, _alice, out _, out _, out var ok));
            Assert.Null(ok);
            Assert.False(assembler.TryAdd(second, _alice, out _, out _, out var rejection));
            Assert.NotNull(rejection);
            Assert.Contains(reason, rejection.Message);
            Assert.Equal((0, 1L), (assembler.InFlight, assembler.Failed));
            // The failed transfer's other pieces are ignored: no transfer that could never complete starts from them.
            Assert.False(assembler.TryAdd(first with { Index = 1 - first.Index % 2 }, _alice, out _, out _, out var ignored));
            Assert.Null(ignored);
            Assert.Equal((0, 1L, 0L), (assembler.InFlight, assembler.Failed, assembler.BufferedBytes));
        }

        Expect("which said 3 pieces of FR", Piece(1, 0, 3, "FR", new byte[] { 1, 2 }), Piece(1, 1, 4, "FR", new byte[] { 1, 2 }));
        Expect("which said 3 pieces of FR", Piece(1, 0, 3, "FR", new byte[] { 1, 2 }), Piece(1, 1, 3, "FQ", new byte[] { 1, 2 }));
        Expect("3 bytes where earlier pieces had 2", Piece(1, 0, 3, "FR", new byte[] { 1, 2 }), Piece(1, 1, 3, "FR", new byte[] { 1, 2, 3 }));
        Expect("last piece of 3 bytes is longer than the others (2)", Piece(1, 0, 3, "FR", new byte[] { 1, 2 }), Piece(1, 2, 3, "FR", new byte[] { 1, 2, 3 }));
        Expect("last piece of 3 bytes is longer than the others (2)", Piece(1, 2, 3, "FR", new byte[] { 1, 2, 3 }), Piece(1, 0, 3, "FR", new byte[] { 1, 2 }));
    }

    [Fact]
    public void A_transfer_over_the_size_limit_is_rejected_at_its_first_piece()
    {
        var assembler = Assembler(new ChunkAssemblerOptions { MaxTransferBytes = 10_000, MaxPieces = 16 });
        var chunks = Cut(Result(floats: 3000), 1000);

        Assert.False(assembler.TryAdd(chunks[0], _alice, out _, out _, out var rejection));

        Assert.Contains("over the limit of 10000 bytes per message", rejection!.Message);
        Assert.Equal(0, assembler.InFlight);
        Assert.Equal(0, assembler.BufferedBytes);
    }

    [Fact]
    public void Pieces_that_join_into_garbage_report_the_deserialization_problem()
    {
        var assembler = Assembler();
        var bytes = Serialized(Result(floats: 10));
        bytes[0] = 9;
        var chunks = new[] { Piece(1, 0, 2, "FR", bytes[..40]), Piece(1, 1, 2, "FR", bytes[40..]) };

        Assert.False(assembler.TryAdd(chunks[0], _alice, out _, out _));
        Assert.False(assembler.TryAdd(chunks[1], _alice, out _, out _, out var rejection));

        Assert.Contains("Transfer 1 joined", rejection!.Message);
        Assert.Contains("unsupported format version 9", rejection.Message);
        Assert.IsType<SerializationException>(rejection.InnerException);
        Assert.Equal((0, 1L, 0L), (assembler.InFlight, assembler.Failed, assembler.BufferedBytes));
    }

    [Fact]
    public void Stale_partial_transfers_are_dropped_when_another_starts_or_on_request()
    {
        var assembler = Assembler(new ChunkAssemblerOptions { MaxAge = TimeSpan.FromSeconds(30) });
        var old = Cut(Result(id: "old"), 500, transferId: 1);
        var active = Cut(Result(id: "active"), 500, transferId: 2);
        assembler.TryAdd(old[0], _alice, out _, out _);
        assembler.TryAdd(active[0], _bob, out _, out _);
        _time.Advance(TimeSpan.FromSeconds(20));
        assembler.TryAdd(active[1], _bob, out _, out _);
        _time.Advance(TimeSpan.FromSeconds(20));

        // "old" has been idle 40 s, "active" 20 s: starting a third transfer sweeps only "old".
        assembler.TryAdd(Cut(Result(id: "third"), 500, transferId: 3)[0], _alice, out _, out _);

        Assert.Equal((2, 1L), (assembler.InFlight, assembler.Dropped));
        // The rest of a dropped transfer is ignored: it does not start afresh, and is not reported again.
        Assert.False(assembler.TryAdd(old[^1], _alice, out _, out _, out var ignored));
        Assert.Null(ignored);
        Assert.Equal(2, assembler.InFlight);
        Assert.Equal(0, assembler.DropStale());
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(2, assembler.DropStale());
        Assert.Equal((0, 0L, 3L, 0L), (assembler.InFlight, assembler.BufferedBytes, assembler.Dropped, assembler.Failed));
    }

    [Fact]
    public void A_transfer_reserves_its_declared_size_at_its_first_piece_and_releases_it_when_done()
    {
        var assembler = Assembler(Small);
        var chunks = Cut(Result(floats: 1000), 1000);
        Assert.Equal(5, chunks.Count);

        assembler.TryAdd(chunks[0], _alice, out _, out _);
        Assert.Equal(Reserves(5, 1000), assembler.BufferedBytes);
        AddAll(assembler, chunks.Skip(1), _alice, out _);
        Assert.Equal(0, assembler.BufferedBytes);

        // Last piece first: the piece length is unknown, so it reserves the whole per-message limit until it is known.
        var again = Cut(Result(floats: 1000), 1000, transferId: 2);
        assembler.TryAdd(again[^1], _alice, out _, out _);
        Assert.Equal(Small.MaxTransferBytes + Reserves(5, 0), assembler.BufferedBytes);
        assembler.TryAdd(again[0], _alice, out _, out _);
        Assert.Equal(Reserves(5, 1000), assembler.BufferedBytes);
    }

    [Fact]
    public void Beyond_the_buffered_byte_limit_a_new_transfer_is_refused_and_the_admitted_ones_complete()
    {
        var assembler = Assembler(Small with { MaxBufferedBytes = Small.MostOneTransferReserves });
        var transfers = Enumerable.Range(1, 4).Select(i => Cut(Result(floats: 1000, id: $"t-{i}"), 1000, transferId: i)).ToList();
        Assert.True(3 * Reserves(5, 1000) > Small.MostOneTransferReserves && 2 * Reserves(5, 1000) <= Small.MostOneTransferReserves);
        assembler.TryAdd(transfers[0][0], _alice, out _, out _);
        assembler.TryAdd(transfers[1][0], _bob, out _, out _);

        Assert.False(assembler.TryAdd(transfers[2][0], _carol, out _, out _, out var refusal));

        Assert.NotNull(refusal);
        Assert.Contains($"Refused transfer 3 (FR, 5 pieces) from {_carol.Path}: it needs {Reserves(5, 1000)} bytes", refusal.Message);
        Assert.Contains($"over its {Small.MostOneTransferReserves} (akkafed.transport.max-buffered-bytes)", refusal.Message);
        Assert.Equal((2, 1L, 0L), (assembler.InFlight, assembler.Refused, assembler.Dropped));
        AssertSame(Result(floats: 1000, id: "t-1"), AddAll(assembler, transfers[0].Skip(1), _alice, out _));
        AssertSame(Result(floats: 1000, id: "t-2"), AddAll(assembler, transfers[1].Skip(1), _bob, out _));
        // There is room again, but the refused transfer's later pieces are ignored, not started as a transfer that
        // could never complete; a new one is admitted.
        Assert.False(assembler.TryAdd(transfers[2][1], _carol, out _, out _, out var ignored));
        Assert.Null(ignored);
        Assert.Equal(0, assembler.InFlight);
        AssertSame(Result(floats: 1000, id: "t-4"), AddAll(assembler, transfers[3], _carol, out _));
    }

    [Fact]
    public void A_sender_over_its_quota_of_transfers_has_its_new_one_refused_and_others_still_start()
    {
        var assembler = Assembler(new ChunkAssemblerOptions { MaxInFlightPerSender = 2 });
        var transfers = Enumerable.Range(1, 4).Select(i => Cut(Result(id: $"t-{i}"), 500, transferId: i)).ToList();
        assembler.TryAdd(transfers[0][0], _alice, out _, out _);
        // Bob is on Alice's node: the quota is the node's, shared by its actors.
        assembler.TryAdd(transfers[1][0], _bob, out _, out _);

        Assert.False(assembler.TryAdd(transfers[2][0], _alice, out _, out _, out var refusal));

        Assert.NotNull(refusal);
        Assert.Contains($"from {_alice.Path}: {_alice.Path.Address} has 2 unfinished "
            + "transfers here, the most one sender may have (akkafed.transport.max-in-flight-per-sender)", refusal.Message);
        AssertSame(Result(id: "t-4"), AddAll(assembler, transfers[3], _carol, out _));
        AssertSame(Result(id: "t-1"), AddAll(assembler, transfers[0].Skip(1), _alice, out _));
        AssertSame(Result(id: "t-2"), AddAll(assembler, transfers[1].Skip(1), _bob, out _));
        Assert.Equal((0, 1L, 0L, 0L), (assembler.InFlight, assembler.Refused, assembler.Dropped, assembler.BufferedBytes));
    }

    [Fact]
    public void A_sender_over_its_quota_of_bytes_has_its_new_one_refused_and_others_still_start()
    {
        var assembler = Assembler(Small with { MaxBufferedBytesPerSender = Small.MostOneTransferReserves });
        var transfers = Enumerable.Range(1, 4).Select(i => Cut(Result(floats: 1000, id: $"t-{i}"), 1000, transferId: i)).ToList();
        assembler.TryAdd(transfers[0][0], _alice, out _, out _);
        assembler.TryAdd(transfers[1][0], _alice, out _, out _);

        Assert.False(assembler.TryAdd(transfers[2][0], _alice, out _, out _, out var refusal));

        Assert.NotNull(refusal);
        Assert.Contains($"it needs {Reserves(5, 1000)} bytes and {_alice.Path.Address} has "
            + $"{2 * Reserves(5, 1000)} reserved here, over the {Small.MostOneTransferReserves} one sender may have "
            + "(akkafed.transport.max-buffered-bytes-per-sender)", refusal.Message);
        AssertSame(Result(floats: 1000, id: "t-4"), AddAll(assembler, transfers[3], _carol, out _));
        AssertSame(Result(floats: 1000, id: "t-1"), AddAll(assembler, transfers[0].Skip(1), _alice, out _));
        AssertSame(Result(floats: 1000, id: "t-2"), AddAll(assembler, transfers[1].Skip(1), _alice, out _));
    }

    [Fact]
    public void Piece_tables_count_against_the_node_budget_so_a_flood_of_tiny_pieces_allocates_within_it()
    {
        // Each one-byte piece declares 65,536 pieces: a piece table of 1 MiB for one byte of data.
        const int Pieces = 65_536;
        var options = new ChunkAssemblerOptions { MaxTransferBytes = 16L << 20, MaxBufferedBytes = 128L << 20, MaxPieces = Pieces };
        var assembler = Assembler(options);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1024; i++)
        {
            assembler.TryAdd(Piece(i, 0, Pieces, "FR", new byte[] { 1 }), _alice, out _, out _);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < options.MaxBufferedBytes, $"{allocated} bytes allocated for {assembler.InFlight} transfers");
        Assert.InRange(assembler.BufferedBytes, assembler.InFlight * Pieces * 16L, options.MaxBufferedBytes);
    }

    [Fact]
    public void A_sender_that_fills_the_node_has_its_own_new_transfer_refused_and_evicts_nobody()
    {
        var assembler = Assembler(new ChunkAssemblerOptions { MaxInFlight = 4 });
        var fromBob = Cut(Result(id: "bob"), 500, transferId: 100);
        assembler.TryAdd(fromBob[0], _bob, out _, out _);
        var fromAlice = Enumerable.Range(1, 4).Select(i => Cut(Result(id: $"alice-{i}"), 500, transferId: i)).ToList();
        for (int i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.False(assembler.TryAdd(fromAlice[i][0], _alice, out _, out _, out var admitted));
            Assert.Null(admitted);
        }

        Assert.False(assembler.TryAdd(fromAlice[3][0], _alice, out _, out _, out var refusal));

        Assert.NotNull(refusal);
        Assert.Contains("Refused transfer 4", refusal.Message);
        Assert.Contains("max-in-flight", refusal.Message);
        Assert.Equal((4, 0L), (assembler.InFlight, assembler.Dropped));
        AssertSame(Result(id: "bob"), AddAll(assembler, fromBob.Skip(1), _bob, out _));
        AssertSame(Result(id: "alice-1"), AddAll(assembler, fromAlice[0].Skip(1), _alice, out _));
    }

    [Fact]
    public void Every_option_is_read_from_its_key_under_akkafed_transport()
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("""
            akkafed.transport {
              max-transfer-bytes = 1MiB
              max-pieces = 100
              max-in-flight = 10
              max-buffered-bytes = 8MiB
              max-in-flight-per-sender = 3
              max-buffered-bytes-per-sender = 4MiB
              max-age = 90s
              sweep-interval = 5s
            }
            """);

        var options = ChunkAssemblerOptions.FromConfig(config);

        Assert.Equal(new ChunkAssemblerOptions
        {
            MaxTransferBytes = 1 << 20, MaxPieces = 100, MaxInFlight = 10, MaxBufferedBytes = 8 << 20, MaxInFlightPerSender = 3,
            MaxBufferedBytesPerSender = 4 << 20, MaxAge = TimeSpan.FromSeconds(90), SweepInterval = TimeSpan.FromSeconds(5),
        }, options);
        Assert.Equal(new ChunkAssemblerOptions(), ChunkAssemblerOptions.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("a = 1")));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ChunkAssemblerOptions.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("akkafed.transport.max-in-flight-per-sender = 0")));
        Assert.Contains("akkafed.transport.max-in-flight-per-sender must be positive", e.Message);
    }

    [Fact]
    public void Options_that_contradict_each_other_fail_fast_naming_the_setting()
    {
        void Expect(string message, ChunkAssemblerOptions options) =>
            Assert.Contains(message, Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkAssembler(WeightBuffers.Get(Sys), options)).Message);

        Expect("akkafed.transport.max-buffered-bytes = 2 cannot hold one whole transfer, which reserves up to 340787200 bytes: "
            + "akkafed.transport.max-transfer-bytes = 268435456 and the table and frames of akkafed.transport.max-pieces = 65536 pieces",
            new ChunkAssemblerOptions { MaxBufferedBytes = 2 });
        Expect("akkafed.transport.max-buffered-bytes-per-sender = 6000 cannot hold one whole transfer",
            Small with { MaxBufferedBytesPerSender = 6000 });
        Expect("akkafed.transport.max-age must be positive", new ChunkAssemblerOptions { MaxAge = TimeSpan.Zero });
        Expect("akkafed.transport.sweep-interval must be positive", new ChunkAssemblerOptions { SweepInterval = TimeSpan.FromSeconds(-1) });
        Expect("akkafed.transport.max-in-flight must be positive", new ChunkAssemblerOptions { MaxInFlight = 0 });
        Expect("akkafed.transport.max-in-flight-per-sender must be positive", new ChunkAssemblerOptions { MaxInFlightPerSender = 0 });
        Expect("akkafed.transport.max-transfer-bytes: a message is serialized into one array",
            new ChunkAssemblerOptions { MaxTransferBytes = 1L << 40, MaxBufferedBytes = 1L << 42, MaxBufferedBytesPerSender = 1L << 42 });
    }
}

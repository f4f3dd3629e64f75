using Akka.Actor;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Privacy;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

public sealed class ClientActorSpec : TestKit, IDisposable
{
    private readonly TensorData _data = new(TinyData.Create(40));
    private readonly TrainerPoolCounters _counters = new();
    private readonly TrainerPool _trainers;
    private readonly float[] _global = InitialWeights.Create(ModelKind.TwoNN, seed: 3);

    public ClientActorSpec() : base(AkkaFedConfig.Dispatcher(1))
    {
        _trainers = new TrainerPool(ModelKind.TwoNN, torchThreads: 1, _counters);
    }

    private IActorRef StartClient(int[] shard, SimulatedFaults? faults = null)
    {
        var client = Sys.ActorOf(ClientActor.Props("client-7", shard, _data, _trainers, TestActor, faults));
        var register = ExpectMsg<RegisterClient>();
        Assert.Equal("client-7", register.ClientId);
        Assert.Equal(shard.Length, register.Examples);
        LastSender.Tell(new ClientRegistered("client-7"));
        return client;
    }

    [Fact]
    public void Trains_and_replies_with_the_round_and_its_example_count()
    {
        var client = StartClient(Enumerable.Range(5, 25).ToArray());

        client.Tell(new FitRequest(3, _global, new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.1), Seed: 1));

        var result = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));
        Assert.Equal(3, result.Round);
        Assert.Equal("client-7", result.ClientId);
        Assert.Equal(25, result.Examples);
        Assert.Equal(_global.Length, result.Delta.Length);
        Assert.Contains(result.Delta.ToFloats(), value => value != 0f);
        Assert.True(result.Loss > 0);
    }

    [Fact]
    public void Evaluates_the_global_model_on_its_own_samples()
    {
        var client = StartClient(Enumerable.Range(0, 30).ToArray());

        client.Tell(new EvaluateRequest(5, _global));

        var result = ExpectMsg<EvaluateResult>(TimeSpan.FromSeconds(30));
        Assert.Equal(5, result.Round);
        Assert.Equal("client-7", result.ClientId);
        Assert.Equal(30, result.Examples);
        Assert.Equal(_trainers.Run(trainer => trainer.Evaluate(_global, _data, Enumerable.Range(0, 30).ToArray())).Loss, result.Loss, 5);
    }

    [Fact]
    public void The_same_request_gives_the_same_delta()
    {
        var client = StartClient(Enumerable.Range(0, 30).ToArray());
        var request = new FitRequest(2, _global, new LocalTrainingOptions(BatchSize: 7), Seed: 11);

        client.Tell(request);
        var first = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));
        client.Tell(request);
        var second = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));

        Assert.Equal(first.Delta.ToFloats(), second.Delta.ToFloats());
    }

    private FitRequest Compressed(int round, CompressionOptions uplink, double? clipNorm = null) =>
        new(round, _global, new LocalTrainingOptions(BatchSize: 10), Seed: 11) { Uplink = uplink, ClipNorm = clipNorm };

    /// <summary>The delta client-7 trains in <paramref name="round"/> of a <see cref="Compressed"/> request, before compression.</summary>
    private float[] RawDelta(int[] shard, int round) => _trainers.Run(trainer =>
        trainer.Train(_global, _data, shard, new LocalTrainingOptions(BatchSize: 10), StableSeed.Mix(11, round, "client-7"))).Delta;

    [Fact]
    public void A_client_keeps_what_top_k_left_out_across_rounds_and_a_restarted_one_starts_without_it()
    {
        var shard = Enumerable.Range(0, 30).ToArray();
        var uplink = new CompressionOptions(Codec.TopK, TopKFraction: 0.01);
        var client = StartClient(shard);

        client.Tell(Compressed(1, uplink));
        var first = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));
        client.Tell(Compressed(2, uplink));
        var second = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));
        Watch(client);
        Sys.Stop(client);
        ExpectTerminated(client);
        var restarted = StartClient(shard);
        restarted.Tell(Compressed(2, uplink));
        var afresh = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));

        // The same arithmetic by hand: one encoder that lives across both rounds, and one that starts at round 2.
        var kept = new UplinkEncoder();
        var expectedFirst = kept.Encode(RawDelta(shard, 1), uplink, seed: 0);
        var expectedSecond = kept.Encode(RawDelta(shard, 2), uplink, seed: 0);
        var expectedAfresh = new UplinkEncoder().Encode(RawDelta(shard, 2), uplink, seed: 0);
        Assert.Equal(Codec.TopK, second.Delta.Codec);
        Assert.Equal(expectedFirst.ToFloats(), first.Delta.ToFloats());
        Assert.Equal(expectedSecond.ToFloats(), second.Delta.ToFloats());
        Assert.Equal(expectedAfresh.ToFloats(), afresh.Delta.ToFloats());
        Assert.NotEqual(second.Delta.ToFloats(), afresh.Delta.ToFloats());
    }

    [Fact]
    public void A_compressing_client_clips_its_update_to_the_rounds_clip_norm_before_compressing()
    {
        var shard = Enumerable.Range(0, 30).ToArray();
        var client = StartClient(shard);
        double clip = DifferentialPrivacy.L2Norm(RawDelta(shard, 1)) / 10;

        client.Tell(Compressed(1, new CompressionOptions(Codec.Fp16), clip));
        var result = ExpectMsg<FitResult>(TimeSpan.FromSeconds(30));

        Assert.Equal(Codec.Fp16, result.Delta.Codec);
        Assert.Equal(clip, DifferentialPrivacy.L2Norm(result.Delta.ToFloats()), clip * 1e-3);
    }

    [Fact]
    public void A_training_error_is_reported_as_a_failure_for_that_round()
    {
        var client = StartClient(Enumerable.Range(0, 10).ToArray());

        client.Tell(new FitRequest(4, new float[10], new LocalTrainingOptions(), Seed: 1));

        var failed = ExpectMsg<FitFailed>(TimeSpan.FromSeconds(30));
        Assert.Equal(4, failed.Round);
        Assert.Equal("client-7", failed.ClientId);
        Assert.Contains("10 values", failed.Reason);
    }

    [Fact]
    public void Many_clients_share_one_model_per_worker_thread()
    {
        var clients = Enumerable.Range(0, 8)
            .Select(i => Sys.ActorOf(ClientActor.Props($"c{i}", new[] { i, i + 10 }, _data, _trainers, TestActor)))
            .ToArray();
        foreach (var _ in clients)
        {
            var register = ExpectMsg<RegisterClient>();
            LastSender.Tell(new ClientRegistered(register.ClientId));
        }

        foreach (var client in clients)
        {
            client.Tell(new FitRequest(1, _global, new LocalTrainingOptions(), Seed: 1));
        }
        ReceiveN(8, TimeSpan.FromSeconds(30));

        // The dispatcher has one thread: eight clients trained, one model exists.
        Assert.Equal(1, _counters.ModelCount);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _trainers.Dispose();
            _data.Dispose();
        }
    }
}

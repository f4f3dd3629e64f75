using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class LocalTrainerTests : IDisposable
{
    private readonly TensorData _data = new(SyntheticData.Create(60, 10, seed: 4).Train);
    private readonly LocalTrainer _trainer = new(ModelKind.TwoNN);
    private readonly float[] _global = InitialWeights.Create(ModelKind.TwoNN, seed: 4);
    private readonly int[] _shard = Enumerable.Range(0, 60).ToArray();

    private LocalResult Train(LocalTrainingOptions options) => _trainer.Train(_global, _data, _shard, options, seed: 9);

    [Fact]
    public void Fedprox_with_mu_zero_is_fedavg_bit_for_bit()
    {
        var fedAvg = Train(new LocalTrainingOptions(Epochs: 2, BatchSize: 10, LearningRate: 0.1));
        var fedProx = Train(new LocalTrainingOptions(Epochs: 2, BatchSize: 10, LearningRate: 0.1, ProximalMu: 0));

        Assert.Equal(fedAvg.Delta, fedProx.Delta);
    }

    [Fact]
    public void Fedprox_keeps_the_local_model_closer_to_the_global_one()
    {
        var free = Train(new LocalTrainingOptions(Epochs: 5, BatchSize: 10, LearningRate: 0.1));
        var tethered = Train(new LocalTrainingOptions(Epochs: 5, BatchSize: 10, LearningRate: 0.1, ProximalMu: 5));

        double freeNorm = Math.Sqrt(free.Delta.Sum(d => (double)d * d));
        double tetheredNorm = Math.Sqrt(tethered.Delta.Sum(d => (double)d * d));
        Assert.True(tetheredNorm < 0.8 * freeNorm, $"|delta| {tetheredNorm} with mu=5 against {freeNorm} with mu=0");
    }

    [Fact]
    public void Fedsgd_takes_one_full_batch_gradient_step_per_epoch()
    {
        var half = Train(new LocalTrainingOptions(Epochs: 1, BatchSize: LocalTrainingOptions.FullBatch, LearningRate: 0.05));
        var full = Train(new LocalTrainingOptions(Epochs: 1, BatchSize: LocalTrainingOptions.FullBatch, LearningRate: 0.1));

        // One step of plain SGD from the same point: the delta is -lr * gradient, so it doubles with lr.
        for (int i = 0; i < half.Delta.Length; i += 997)
        {
            Assert.Equal(2 * half.Delta[i], full.Delta[i], 1e-6f);
        }
        Assert.Contains(full.Delta, d => d != 0);
    }

    [Fact]
    public void A_negative_mu_is_refused_by_name()
    {
        var error = Assert.Throws<SettingsException>(() => new LocalTrainingOptions(ProximalMu: -1).Validate());

        Assert.Contains("proximal-mu", error.Message);
    }

    public void Dispose()
    {
        _trainer.Dispose();
        _data.Dispose();
    }
}

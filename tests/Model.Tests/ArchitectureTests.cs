using AkkaFed.Model.Data;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class ArchitectureTests
{
    [Theory]
    [InlineData(ModelKind.Cnn, 54_410)]
    [InlineData(ModelKind.McMahanCnn, 1_663_370)]
    [InlineData(ModelKind.TwoNN, 199_210)]
    public void Parameter_counts_match_the_papers(ModelKind kind, int expected)
    {
        using var model = Architectures.Create(kind);

        Assert.Equal(expected, FlatWeights.Count(model));
    }

    [Theory]
    [InlineData(ModelKind.Cnn)]
    [InlineData(ModelKind.McMahanCnn)]
    [InlineData(ModelKind.TwoNN)]
    public void Each_model_maps_a_batch_of_images_to_ten_logits(ModelKind kind)
    {
        using var model = Architectures.Create(kind);
        using var images = TorchSharp.torch.zeros(3, 1, 28, 28);

        using var logits = model.forward(images);

        Assert.Equal(new long[] { 3, 10 }, logits.shape);
    }

    [Fact]
    public void Flat_weights_round_trip_through_a_model()
    {
        using var model = Architectures.Create(ModelKind.TwoNN);
        var weights = Enumerable.Range(0, FlatWeights.Count(model)).Select(i => i * 1e-6f).ToArray();

        FlatWeights.Write(model, weights);

        Assert.Equal(weights, FlatWeights.Read(model));
    }

    [Fact]
    public void Writing_weights_of_the_wrong_length_names_both_lengths()
    {
        using var model = Architectures.Create(ModelKind.TwoNN);

        var error = Assert.Throws<ArgumentException>(() => FlatWeights.Write(model, new float[10]));

        Assert.Contains("10 values", error.Message);
    }

    [Fact]
    public void Initial_weights_depend_only_on_the_seed()
    {
        Assert.Equal(InitialWeights.Create(ModelKind.Cnn, 1), InitialWeights.Create(ModelKind.Cnn, 1));
        Assert.NotEqual(InitialWeights.Create(ModelKind.Cnn, 1), InitialWeights.Create(ModelKind.Cnn, 2));
    }

    [Theory]
    [InlineData(ModelKind.Cnn)]
    [InlineData(ModelKind.McMahanCnn)]
    [InlineData(ModelKind.TwoNN)]
    public void Initial_weights_ignore_torchs_global_generator_and_models_built_at_the_same_time(ModelKind kind)
    {
        var alone = InitialWeights.Create(kind, 7);
        using var stop = new CancellationTokenSource();
        // Another thread keeps drawing from the process-wide generator, as a model built elsewhere does.
        var noise = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                TorchSharp.torch.random.manual_seed(Environment.TickCount);
                using var other = Architectures.Create(ModelKind.TwoNN);
            }
        });

        var crowded = Enumerable.Range(0, 20).Select(_ => InitialWeights.Create(kind, 7)).ToArray();
        stop.Cancel();
        noise.Wait();

        Assert.All(crowded, weights => Assert.Equal(alone, weights));
    }

    [Theory]
    [InlineData(ModelKind.Cnn)]
    [InlineData(ModelKind.McMahanCnn)]
    [InlineData(ModelKind.TwoNN)]
    public void Initial_weights_follow_pytorchs_default_bounds(ModelKind kind)
    {
        using var model = Architectures.Create(kind);
        FlatWeights.Write(model, InitialWeights.Create(kind, 3));

        long fanIn = 0;
        foreach (var (name, parameter) in model.named_parameters())
        {
            var values = parameter.data<float>().ToArray();
            if (parameter.dim() >= 2)
            {
                fanIn = parameter.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            }
            // Both weights (kaiming_uniform_, a = sqrt(5)) and biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
            double bound = 1 / Math.Sqrt(fanIn);
            Assert.All(values, v => Assert.InRange(v, -bound * (1 + 1e-6), bound * (1 + 1e-6)));
            // Uniform on the interval: among 100 draws or more, the largest is close to the bound, not half of it.
            Assert.True(values.Length < 100 || values.Max(Math.Abs) > bound * 0.95, $"{name}: largest |value| {values.Max(Math.Abs)} of bound {bound}");
        }
    }

    [Fact]
    public void A_few_local_training_steps_lower_the_loss()
    {
        var random = new Random(1);
        var images = Enumerable.Range(0, 40 * 784).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, 40).Select(i => (byte)(i % 10)).ToArray();
        using var data = new TensorData(new Dataset("random", images, labels, 28, 28));
        using var trainer = new LocalTrainer(ModelKind.Cnn);
        var weights = InitialWeights.Create(ModelKind.Cnn, 1);
        var all = Enumerable.Range(0, 40).ToArray();
        var before = trainer.Evaluate(weights, data, all);

        var result = trainer.Train(weights, data, all, new LocalTrainingOptions(Epochs: 10, BatchSize: 10, LearningRate: 0.1), seed: 1);
        var trained = weights.Zip(result.Delta, (w, d) => w + d).ToArray();
        var after = trainer.Evaluate(trained, data, all);

        Assert.Equal(40, result.Examples);
        Assert.True(after.Loss < before.Loss * 0.8, $"loss {before.Loss} -> {after.Loss}");
    }

    [Fact]
    public void Unknown_model_names_list_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => Architectures.Parse("resnet"));

        Assert.Contains("mcmahan-cnn", error.Message);
    }
}

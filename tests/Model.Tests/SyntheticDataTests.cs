using AkkaFed.Model.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace AkkaFed.Model.Tests;

public sealed class SyntheticDataTests
{
    [Fact]
    public void SameSeedGivesSameData()
    {
        // Prepare
        DatasetSplit first = SyntheticData.Create(200, 50, seed: 7);

        // Execute
        DatasetSplit second = SyntheticData.Create(200, 50, seed: 7);

        // Assert
        Assert.Equal(first.Train.Images, second.Train.Images);
        Assert.Equal(first.Train.Labels, second.Train.Labels);
        Assert.Equal(first.Test.Images, second.Test.Images);
        Assert.Equal(first.Test.Labels, second.Test.Labels);
    }

    [Fact]
    public void OtherSeedGivesOtherData()
    {
        // Prepare
        DatasetSplit first = SyntheticData.Create(200, 50, seed: 7);

        // Execute
        DatasetSplit second = SyntheticData.Create(200, 50, seed: 8);

        // Assert
        Assert.NotEqual(first.Train.Images, second.Train.Images);
    }

    [Fact]
    public void HasMnistShapes()
    {
        // Execute
        DatasetSplit split = SyntheticData.Create(300, 70, seed: 1);

        // Assert
        Assert.Equal((300, 28, 28, 10), (split.Train.Count, split.Train.Height, split.Train.Width, split.Train.Classes));
        Assert.Equal((70, 28, 28, 10), (split.Test.Count, split.Test.Height, split.Test.Width, split.Test.Classes));
        Assert.Equal(300 * 784, split.Train.Images.Length);
        Assert.All(split.Train.Images, pixel => Assert.InRange(pixel, 0f, 1f));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1005)]
    public void LabelsAreBalancedAndShuffled(int count)
    {
        // Execute
        Dataset train = SyntheticData.Create(count, 10, seed: 3).Train;

        // Assert
        int[] perLabel = Enumerable.Range(0, 10).Select(label => train.Labels.Count(l => l == label)).ToArray();
        Assert.All(perLabel, n => Assert.InRange(n, count / 10, count / 10 + 1));
        Assert.NotEqual(Enumerable.Range(0, 10).Select(i => (byte)i), train.Labels.Take(10));
    }

    [Fact]
    public void NearestClassMeanSeparatesTheClasses()
    {
        // Prepare: class means from the train set.
        DatasetSplit split = SyntheticData.Create(1000, 500, seed: 12);
        var means = new double[10, 784];
        var counts = new int[10];
        for (int n = 0; n < split.Train.Count; n++)
        {
            int label = split.Train.Labels[n];
            counts[label]++;
            for (int p = 0; p < 784; p++)
            {
                means[label, p] += split.Train.Images[n * 784 + p];
            }
        }

        // Execute
        int correct = 0;
        for (int n = 0; n < split.Test.Count; n++)
        {
            int best = -1;
            double bestDistance = double.MaxValue;
            for (int c = 0; c < 10; c++)
            {
                double distance = 0;
                for (int p = 0; p < 784; p++)
                {
                    double d = split.Test.Images[n * 784 + p] - means[c, p] / counts[c];
                    distance += d * d;
                }
                if (distance < bestDistance)
                {
                    (best, bestDistance) = (c, distance);
                }
            }
            correct += best == split.Test.Labels[n] ? 1 : 0;
        }

        // Assert
        double accuracy = correct / (double)split.Test.Count;
        Assert.True(accuracy > 0.9, $"nearest class mean accuracy {accuracy:P1}");
    }

    [Fact]
    public void TinyCnnLearnsItInTwoEpochs()
    {
        // Prepare
        torch.manual_seed(1);
        DatasetSplit split = SyntheticData.Create(1000, 300, seed: 21);
        var model = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size: 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 12 * 12, 10));
        var optimizer = optim.Adam(model.parameters(), lr: 0.005);

        // Execute
        for (int epoch = 0; epoch < 2; epoch++)
        {
            for (int start = 0; start < split.Train.Count; start += 50)
            {
                using var scope = NewDisposeScope();
                (Tensor images, Tensor labels) = Batch(split.Train, start, 50);
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(images), labels).backward();
                optimizer.step();
            }
        }
        double accuracy;
        using (NewDisposeScope())
        using (no_grad())
        {
            (Tensor images, Tensor labels) = Batch(split.Test, 0, split.Test.Count);
            accuracy = model.forward(images).argmax(1).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        }

        // Assert: chance is 10%.
        Assert.True(accuracy > 0.8, $"test accuracy {accuracy:P1}");
    }

    private static (Tensor Images, Tensor Labels) Batch(Dataset dataset, int start, int size)
    {
        size = Math.Min(size, dataset.Count - start);
        float[] pixels = dataset.Images[(start * 784)..((start + size) * 784)];
        long[] labels = dataset.Labels[start..(start + size)].Select(label => (long)label).ToArray();
        return (tensor(pixels, [size, 1, 28, 28]), tensor(labels));
    }
}

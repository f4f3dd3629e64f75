namespace AkkaFed.Model.Data;

/// <summary>
/// A labelled image dataset held once in memory: pixels scaled to [0, 1], row-major,
/// <c>Count x Height x Width</c>, one channel. Clients and partitions refer to samples by index,
/// so a dataset is never copied per client.
/// </summary>
public sealed class Dataset
{
    public Dataset(string name, float[] images, byte[] labels, int height, int width, int classes = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (images.Length != (long)labels.Length * height * width)
        {
            throw new ArgumentException(
                $"{name}: {images.Length} pixels do not make {labels.Length} images of {height}x{width}", nameof(images));
        }
        foreach (byte label in labels)
        {
            if (label >= classes)
            {
                throw new ArgumentException($"{name}: label {label} is outside 0..{classes - 1}", nameof(labels));
            }
        }
        Name = name;
        Images = images;
        Labels = labels;
        Height = height;
        Width = width;
        Classes = classes;
    }

    /// <summary>
    /// A dataset from 8-bit pixels (as stored in IDX files and caches), scaled to [0, 1] by b / 255.
    /// </summary>
    public static Dataset FromBytes(string name, ReadOnlySpan<byte> pixels, byte[] labels, int height, int width, int classes = 10)
    {
        var images = new float[pixels.Length];
        // A 256-entry table instead of a division per pixel: 47 million pixels for MNIST's train set.
        float[] table = s_byteToUnit;
        for (int i = 0; i < pixels.Length; i++)
        {
            images[i] = table[pixels[i]];
        }
        return new Dataset(name, images, labels, height, width, classes);
    }

    public string Name { get; }
    public float[] Images { get; }
    public byte[] Labels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }
    public int Count => Labels.Length;
    public int PixelsPerImage => Height * Width;

    /// <summary>A new dataset holding the given samples, in the given order.</summary>
    public Dataset Subset(string name, IReadOnlyList<int> indices)
    {
        var images = new float[(long)indices.Count * PixelsPerImage];
        var labels = new byte[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Array.Copy(Images, (long)indices[i] * PixelsPerImage, images, (long)i * PixelsPerImage, PixelsPerImage);
            labels[i] = Labels[indices[i]];
        }
        return new Dataset(name, images, labels, Height, Width, Classes);
    }

    private static readonly float[] s_byteToUnit = CreateByteToUnit();

    private static float[] CreateByteToUnit()
    {
        var table = new float[256];
        for (int b = 0; b < table.Length; b++)
        {
            table[b] = b / 255f;
        }
        return table;
    }
}

/// <summary>A dataset's train and test parts.</summary>
public sealed record DatasetSplit(Dataset Train, Dataset Test);

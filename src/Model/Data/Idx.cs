using System.Buffers.Binary;
using System.IO.Compression;

namespace AkkaFed.Model.Data;

/// <summary>The content of an IDX image file: <c>Count x Height x Width</c> unsigned bytes, row-major.</summary>
public sealed class IdxImages
{
    public IdxImages(byte[] pixels, int count, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (pixels.Length != (long)count * height * width)
        {
            throw new ArgumentException(
                $"{pixels.Length} pixels do not make {count} images of {height}x{width}", nameof(pixels));
        }
        Pixels = pixels;
        Count = count;
        Height = height;
        Width = width;
    }

    public byte[] Pixels { get; }
    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
}

/// <summary>
/// Reads and writes the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
/// a big-endian magic number <c>0x000008nn</c> (unsigned bytes, nn dimensions), nn big-endian
/// 32-bit sizes, then the bytes. Files may be gzipped; the gzip magic (1f 8b) decides, not the name.
/// Every problem with a file's content is an <see cref="InvalidDataException"/> whose message starts
/// with the file's name: a dataset is four look-alike files, and the user needs to know which one is bad.
/// </summary>
public static class IdxFile
{
    private const byte UnsignedByteType = 0x08;
    private const int ImageDimensions = 3;
    private const int LabelDimensions = 1;

    public static IdxImages ReadImages(string path)
    {
        using FileStream stream = OpenRead(path);
        return ReadImages(stream, path);
    }

    /// <param name="name">How errors refer to the stream, usually its file name.</param>
    public static IdxImages ReadImages(Stream stream, string name)
    {
        (int[] sizes, byte[] payload) = Read(stream, name, ImageDimensions);
        return new IdxImages(payload, sizes[0], sizes[1], sizes[2]);
    }

    public static byte[] ReadLabels(string path)
    {
        using FileStream stream = OpenRead(path);
        return ReadLabels(stream, path);
    }

    /// <param name="name">How errors refer to the stream, usually its file name.</param>
    public static byte[] ReadLabels(Stream stream, string name)
    {
        return Read(stream, name, LabelDimensions).Payload;
    }

    /// <summary>
    /// Reads an image file and its label file into one dataset, checking that they describe the
    /// same number of samples and that every label is a valid class.
    /// </summary>
    public static Dataset LoadPair(string imagesPath, string labelsPath, string name, int classes = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        IdxImages images = ReadImages(imagesPath);
        byte[] labels = ReadLabels(labelsPath);
        if (images.Count != labels.Length)
        {
            throw Invalid(
                imagesPath, $"holds {images.Count} images but {labelsPath} holds {labels.Length} labels");
        }
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classes)
            {
                throw Invalid(labelsPath, $"label {labels[i]} at index {i} is outside 0..{classes - 1}");
            }
        }
        return Dataset.FromBytes(name, images.Pixels, labels, images.Height, images.Width, classes);
    }

    /// <summary>
    /// Writes an image file through a temporary file and a rename, so a reader (or a crash) never
    /// sees half a file where a cache is expected.
    /// </summary>
    public static void WriteImages(string path, IdxImages images, bool gzip = false)
    {
        WriteAtomically(path, stream => WriteImages(stream, images, gzip));
    }

    public static void WriteImages(Stream stream, IdxImages images, bool gzip = false)
    {
        // The reader rejects empty dimensions, so refuse to write a file that could not be read back.
        ArgumentOutOfRangeException.ThrowIfZero(images.Count, nameof(images));
        Write(stream, [images.Count, images.Height, images.Width], images.Pixels, gzip);
    }

    /// <summary>Writes a label file through a temporary file and a rename.</summary>
    public static void WriteLabels(string path, byte[] labels, bool gzip = false)
    {
        WriteAtomically(path, stream => WriteLabels(stream, labels, gzip));
    }

    public static void WriteLabels(Stream stream, byte[] labels, bool gzip = false)
    {
        ArgumentOutOfRangeException.ThrowIfZero(labels.Length, nameof(labels));
        Write(stream, [labels.Length], labels, gzip);
    }

    private static FileStream OpenRead(string path)
    {
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    private static (int[] Sizes, byte[] Payload) Read(Stream stream, string name, int dimensions)
    {
        bool gzip = IsGzip(ref stream);
        Stream source = gzip ? new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true) : stream;
        try
        {
            return ReadUncompressed(source, name, dimensions);
        }
        finally
        {
            if (gzip)
            {
                source.Dispose();
            }
        }
    }

    /// <summary>Peeks at the first two bytes for the gzip magic and rewinds.</summary>
    private static bool IsGzip(ref Stream stream)
    {
        if (!stream.CanSeek)
        {
            // Rewinding needs a seekable stream; the callers that hand over pipes are rare and small.
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }
        long start = stream.Position;
        Span<byte> magic = stackalloc byte[2];
        int read = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        stream.Position = start;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    private static (int[] Sizes, byte[] Payload) ReadUncompressed(Stream source, string name, int dimensions)
    {
        int expectedMagic = (UnsignedByteType << 8) | dimensions;
        string expectedWhat = dimensions == ImageDimensions
            ? "an image file (images x rows x columns)"
            : "a label file (one dimension)";

        Span<byte> magicBytes = stackalloc byte[4];
        int read = Fill(source, magicBytes, name);
        if (read == 0)
        {
            throw Invalid(name, "the file is empty");
        }
        if (read < magicBytes.Length)
        {
            throw Invalid(name, $"truncated: the file ends after {read} bytes, inside the 4-byte magic number");
        }
        int magic = BinaryPrimitives.ReadInt32BigEndian(magicBytes);
        if (magicBytes[0] != 0 || magicBytes[1] != 0)
        {
            throw Invalid(
                name, $"not an IDX file: magic number is 0x{magic:X8}, expected 0x{expectedMagic:X8} for {expectedWhat}");
        }
        if (magicBytes[2] != UnsignedByteType)
        {
            throw Invalid(
                name, $"magic number 0x{magic:X8} says element type 0x{magicBytes[2]:X2}; only unsigned bytes (0x08) are supported");
        }
        if (magicBytes[3] != dimensions)
        {
            string hint = magicBytes[3] switch
            {
                ImageDimensions => ": is this an image file?",
                LabelDimensions => ": is this a label file?",
                _ => "",
            };
            throw Invalid(
                name,
                $"magic number 0x{magic:X8} says {magicBytes[3]} dimensions, expected {dimensions} " +
                $"(0x{expectedMagic:X8}, {expectedWhat}){hint}");
        }

        Span<byte> sizeBytes = stackalloc byte[4 * dimensions];
        read = Fill(source, sizeBytes, name);
        if (read < sizeBytes.Length)
        {
            throw Invalid(
                name, $"truncated: the header needs {4 + sizeBytes.Length} bytes but the file holds {4 + read}");
        }
        var sizes = new int[dimensions];
        long length = 1;
        for (int d = 0; d < dimensions; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(sizeBytes[(4 * d)..]);
            if (size == 0 || size > int.MaxValue)
            {
                throw Invalid(
                    name, $"dimension {d + 1} of {dimensions} is {size}; every dimension must be between 1 and {int.MaxValue}");
            }
            sizes[d] = (int)size;
            length *= size;
            if (length > Array.MaxLength)
            {
                throw Invalid(name, $"header says {Describe(sizes[..(d + 1)])} or more, too large to load");
            }
        }

        byte[] payload = ReadPayload(source, (int)length, name, sizes);
        long trailing = CountRemaining(source, name);
        if (trailing > 0)
        {
            throw Invalid(
                name, $"trailing data: header says {Describe(sizes)} ({length} bytes) but {trailing} more bytes follow them");
        }
        return (sizes, payload);
    }

    /// <summary>
    /// Reads exactly <paramref name="length"/> bytes. Memory follows the data actually present, not the
    /// header's claim, so a damaged header announcing gigabytes fails as "truncated", not out of memory.
    /// </summary>
    private static byte[] ReadPayload(Stream source, int length, string name, int[] sizes)
    {
        const int firstChunk = 1 << 26;
        long available = source.CanSeek ? source.Length - source.Position : long.MaxValue;
        var payload = new byte[Math.Min(length, Math.Min(available, firstChunk))];
        int filled = Fill(source, payload, name);
        while (filled == payload.Length && filled < length && filled < available)
        {
            Array.Resize(ref payload, (int)Math.Min(length, Math.Min(available, 2L * payload.Length)));
            filled += Fill(source, payload.AsSpan(filled), name);
        }
        if (filled < length)
        {
            throw Invalid(
                name, $"truncated: header says {Describe(sizes)} ({length} bytes) but the file holds only {filled} after the header");
        }
        return payload;
    }

    private static string Describe(int[] sizes)
    {
        return sizes.Length switch
        {
            1 => $"{sizes[0]} labels",
            3 => $"{sizes[0]} images of {sizes[1]}x{sizes[2]}",
            _ => string.Join("x", sizes),
        };
    }

    private static long CountRemaining(Stream source, string name)
    {
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = Fill(source, buffer, name)) > 0)
        {
            total += read;
        }
        return total;
    }

    /// <summary>
    /// Reads until the buffer is full or the data ends. The decompressor reports a damaged gzip stream
    /// as a bare InvalidDataException; this is where it learns which file it was reading.
    /// </summary>
    private static int Fill(Stream source, Span<byte> buffer, string name)
    {
        try
        {
            return source.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{name}: corrupt gzip data: {e.Message}", e);
        }
    }

    private static InvalidDataException Invalid(string name, string problem)
    {
        return new InvalidDataException($"{name}: {problem}");
    }

    private static void Write(Stream stream, int[] sizes, byte[] payload, bool gzip)
    {
        Stream target = gzip ? new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true) : stream;
        try
        {
            Span<byte> header = stackalloc byte[4 + 4 * sizes.Length];
            BinaryPrimitives.WriteInt32BigEndian(header, (UnsignedByteType << 8) | sizes.Length);
            for (int d = 0; d < sizes.Length; d++)
            {
                BinaryPrimitives.WriteInt32BigEndian(header[(4 + 4 * d)..], sizes[d]);
            }
            target.Write(header);
            target.Write(payload);
        }
        finally
        {
            if (gzip)
            {
                target.Dispose();
            }
        }
    }

    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string fullPath = Path.GetFullPath(path);
        string temporary = $"{fullPath}.tmp-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            // Only left behind when writing or the rename failed.
            File.Delete(temporary);
        }
    }
}

/// <summary>
/// Finds the four files of an MNIST-style dataset in a folder, under either of the spellings
/// in circulation (<c>train-images-idx3-ubyte</c> or <c>train-images.idx3-ubyte</c>), raw or gzipped.
/// </summary>
public static class IdxDirectory
{
    /// <param name="name">The dataset's name; defaults to the folder's name.</param>
    public static DatasetSplit Load(string directory, string? name = null, int classes = 10)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{directory}: no such directory (expected the four MNIST-style IDX files there)");
        }
        name ??= Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        string trainImages = Find(directory, "train", "images", 3);
        string trainLabels = Find(directory, "train", "labels", 1);
        string testImages = Find(directory, "t10k", "images", 3);
        string testLabels = Find(directory, "t10k", "labels", 1);
        return new DatasetSplit(
            IdxFile.LoadPair(trainImages, trainLabels, $"{name}-train", classes),
            IdxFile.LoadPair(testImages, testLabels, $"{name}-test", classes));
    }

    /// <summary>The path of one of the four files, preferring the uncompressed one (faster to read).</summary>
    public static string Find(string directory, string part, string kind, int dimensions)
    {
        string dashed = $"{part}-{kind}-idx{dimensions}-ubyte";
        string dotted = $"{part}-{kind}.idx{dimensions}-ubyte";
        foreach (string candidate in new[] { dashed, dashed + ".gz", dotted, dotted + ".gz" })
        {
            string path = Path.Combine(directory, candidate);
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new FileNotFoundException(
            $"{directory}: {dashed}[.gz] is missing (also looked for {dotted}[.gz])", Path.Combine(directory, dashed));
    }
}

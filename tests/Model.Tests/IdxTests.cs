using System.IO.Compression;
using AkkaFed.Model.Data;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class IdxTests : IDisposable
{
    private readonly TempDirectory _folder = new();

    public void Dispose()
    {
        _folder.Dispose();
    }

    // Three 2x4 images whose pixels are all different, so a swapped or shifted byte is visible.
    private static IdxImages ThreeImages()
    {
        var pixels = new byte[3 * 2 * 4];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(i * 11);
        }
        return new IdxImages(pixels, 3, 2, 4);
    }

    private static readonly byte[] s_threeLabels = [7, 0, 9];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WrittenFilesReadBackIdentical(bool gzip)
    {
        // Prepare
        IdxImages written = ThreeImages();
        string imagesPath = _folder.File("images");
        string labelsPath = _folder.File("labels");
        IdxFile.WriteImages(imagesPath, written, gzip);
        IdxFile.WriteLabels(labelsPath, s_threeLabels, gzip);

        // Execute
        IdxImages images = IdxFile.ReadImages(imagesPath);
        byte[] labels = IdxFile.ReadLabels(labelsPath);

        // Assert
        byte[] head = File.ReadAllBytes(imagesPath)[..2];
        Assert.Equal(gzip, head[0] == 0x1f && head[1] == 0x8b);
        Assert.Equal((3, 2, 4), (images.Count, images.Height, images.Width));
        Assert.Equal(written.Pixels, images.Pixels);
        Assert.Equal(s_threeLabels, labels);
        Assert.Empty(Directory.GetFiles(_folder.Path, "*.tmp-*"));
    }

    [Fact]
    public void RawFileHasTheStandardHeader()
    {
        // Prepare
        string path = _folder.File("labels");

        // Execute
        IdxFile.WriteLabels(path, s_threeLabels);

        // Assert
        Assert.Equal(new byte[] { 0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void StreamOverloadsRoundTripThroughGzip()
    {
        // Prepare
        var stream = new MemoryStream();
        IdxFile.WriteImages(stream, ThreeImages(), gzip: true);
        stream.Position = 0;

        // Execute
        IdxImages images = IdxFile.ReadImages(stream, "in-memory");

        // Assert
        Assert.Equal(ThreeImages().Pixels, images.Pixels);
    }

    [Fact]
    public void LoadPairScalesPixelsToUnitRange()
    {
        // Prepare
        string imagesPath = _folder.File("images.gz");
        string labelsPath = _folder.File("labels.gz");
        IdxFile.WriteImages(imagesPath, ThreeImages(), gzip: true);
        IdxFile.WriteLabels(labelsPath, s_threeLabels, gzip: true);

        // Execute
        Dataset dataset = IdxFile.LoadPair(imagesPath, labelsPath, "tiny");

        // Assert
        Assert.Equal("tiny", dataset.Name);
        Assert.Equal((3, 2, 4), (dataset.Count, dataset.Height, dataset.Width));
        Assert.Equal(s_threeLabels, dataset.Labels);
        Assert.Equal(ThreeImages().Pixels.Select(b => b / 255f), dataset.Images);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedPayloadNamesTheFileAndTheSizes(bool gzip)
    {
        // Prepare: a raw file cut 4 bytes short of its 16-byte header plus 24 pixels, then maybe gzipped.
        byte[] whole = Bytes(stream => IdxFile.WriteImages(stream, ThreeImages()));
        string path = WriteFile("train-images-idx3-ubyte" + (gzip ? ".gz" : ""), whole[..^4], gzip);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": truncated", error.Message);
        Assert.Contains("3 images of 2x4 (24 bytes)", error.Message);
        Assert.Contains("holds only 20", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HeaderClaimingGigabytesIsTruncatedNotOutOfMemory(bool gzip)
    {
        // Prepare: 2,000,000,000 labels announced, three present.
        string path = WriteFile("labels", [0, 0, 8, 1, 0x77, 0x35, 0x94, 0x00, 1, 2, 3], gzip);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.Equal(
            $"{path}: truncated: header says 2000000000 labels (2000000000 bytes) but the file holds only 3 after the header",
            error.Message);
    }

    [Fact]
    public void TruncatedHeaderNamesTheFile()
    {
        // Prepare
        string path = WriteFile("labels", [0, 0, 8, 1, 0, 0]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.Equal($"{path}: truncated: the header needs 8 bytes but the file holds 6", error.Message);
    }

    [Fact]
    public void EmptyFileSaysSo()
    {
        // Prepare
        string path = WriteFile("labels", []);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.Equal($"{path}: the file is empty", error.Message);
    }

    [Fact]
    public void BadMagicNumberNamesTheFileAndBothNumbers()
    {
        // Prepare: a PNG signature where the IDX magic should be.
        string path = WriteFile("images", [0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": not an IDX file", error.Message);
        Assert.Contains("0x89504E47", error.Message);
        Assert.Contains("expected 0x00000803", error.Message);
    }

    [Fact]
    public void LabelFileReadAsImagesReportsTheDimensionCount()
    {
        // Prepare
        string path = _folder.File("train-labels-idx1-ubyte");
        IdxFile.WriteLabels(path, s_threeLabels);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": magic number 0x00000801 says 1 dimensions, expected 3", error.Message);
        Assert.EndsWith("is this a label file?", error.Message);
    }

    [Fact]
    public void ImageFileReadAsLabelsReportsTheDimensionCount()
    {
        // Prepare
        string path = _folder.File("train-images-idx3-ubyte");
        IdxFile.WriteImages(path, ThreeImages());

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.StartsWith(path + ": magic number 0x00000803 says 3 dimensions, expected 1", error.Message);
    }

    [Fact]
    public void NonByteElementTypeIsRejected()
    {
        // Prepare: 0x0D is IDX's float type.
        string path = WriteFile("images", [0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": magic number 0x00000D03 says element type 0x0D", error.Message);
    }

    [Fact]
    public void ZeroDimensionIsRejected()
    {
        // Prepare: 2 images of 0x28.
        string path = WriteFile("images", [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 28]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": dimension 2 of 3 is 0", error.Message);
    }

    [Fact]
    public void NegativeDimensionIsRejected()
    {
        // Prepare: the count's top bit set, which a signed reader would take for a negative size.
        string path = WriteFile("labels", [0, 0, 8, 1, 0x80, 0, 0, 0, 1]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.StartsWith(path + ": dimension 1 of 1 is 2147483648", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrailingBytesAreRejected(bool gzip)
    {
        // Prepare
        byte[] whole = Bytes(stream => IdxFile.WriteLabels(stream, s_threeLabels));
        string path = WriteFile("labels", [.. whole, 1, 2, 3, 4, 5], gzip);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.Equal($"{path}: trailing data: header says 3 labels (3 bytes) but 5 more bytes follow them", error.Message);
    }

    [Fact]
    public void CorruptGzipNamesTheFile()
    {
        // Prepare: a valid gzip file whose compressed body is overwritten with garbage.
        byte[] gzipped = Bytes(stream => IdxFile.WriteImages(stream, ThreeImages(), gzip: true));
        for (int i = 10; i < gzipped.Length - 8; i++)
        {
            gzipped[i] = 0xff;
        }
        string path = WriteFile("train-images-idx3-ubyte.gz", gzipped);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));

        // Assert
        Assert.StartsWith(path + ": corrupt gzip data", error.Message);
    }

    [Fact]
    public void GzipWithBadChecksumNamesTheFile()
    {
        // Prepare: intact compressed data but a wrong CRC-32 in the trailer.
        byte[] gzipped = Bytes(stream => IdxFile.WriteLabels(stream, s_threeLabels, gzip: true));
        gzipped[^8] ^= 0xff;
        string path = WriteFile("labels.gz", gzipped);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));

        // Assert
        Assert.StartsWith(path + ": corrupt gzip data", error.Message);
    }

    [Fact]
    public void MismatchedCountsNameBothFiles()
    {
        // Prepare
        string imagesPath = _folder.File("images");
        string labelsPath = _folder.File("labels");
        IdxFile.WriteImages(imagesPath, ThreeImages());
        IdxFile.WriteLabels(labelsPath, [1, 2]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.LoadPair(imagesPath, labelsPath, "tiny"));

        // Assert
        Assert.Equal($"{imagesPath}: holds 3 images but {labelsPath} holds 2 labels", error.Message);
    }

    [Fact]
    public void LabelOutsideTheClassesNamesTheLabelFile()
    {
        // Prepare
        string imagesPath = _folder.File("images");
        string labelsPath = _folder.File("labels");
        IdxFile.WriteImages(imagesPath, ThreeImages());
        IdxFile.WriteLabels(labelsPath, [1, 12, 2]);

        // Execute
        var error = Assert.Throws<InvalidDataException>(() => IdxFile.LoadPair(imagesPath, labelsPath, "tiny"));

        // Assert
        Assert.Equal($"{labelsPath}: label 12 at index 1 is outside 0..9", error.Message);
    }

    [Fact]
    public void DirectoryAcceptsBothSpellingsRawAndGzipped()
    {
        // Prepare: the train pair dashed and gzipped, the test pair dotted and raw.
        IdxFile.WriteImages(_folder.File("train-images-idx3-ubyte.gz"), ThreeImages(), gzip: true);
        IdxFile.WriteLabels(_folder.File("train-labels-idx1-ubyte.gz"), s_threeLabels, gzip: true);
        IdxFile.WriteImages(_folder.File("t10k-images.idx3-ubyte"), new IdxImages(new byte[8], 1, 2, 4));
        IdxFile.WriteLabels(_folder.File("t10k-labels.idx1-ubyte"), [5]);

        // Execute
        DatasetSplit split = IdxDirectory.Load(_folder.Path, "tiny");

        // Assert
        Assert.Equal("tiny-train", split.Train.Name);
        Assert.Equal("tiny-test", split.Test.Name);
        Assert.Equal(s_threeLabels, split.Train.Labels);
        Assert.Equal(new byte[] { 5 }, split.Test.Labels);
    }

    [Fact]
    public void DirectoryMissingAFileNamesTheDirectoryAndTheFile()
    {
        // Prepare
        IdxFile.WriteImages(_folder.File("train-images-idx3-ubyte"), ThreeImages());
        IdxFile.WriteLabels(_folder.File("train-labels-idx1-ubyte"), s_threeLabels);
        IdxFile.WriteImages(_folder.File("t10k-images-idx3-ubyte"), ThreeImages());

        // Execute
        var error = Assert.Throws<FileNotFoundException>(() => IdxDirectory.Load(_folder.Path));

        // Assert
        Assert.StartsWith($"{_folder.Path}: t10k-labels-idx1-ubyte[.gz] is missing", error.Message);
    }

    [Fact]
    public void MissingDirectoryIsNamed()
    {
        // Prepare
        string missing = _folder.File("nowhere");

        // Execute
        var error = Assert.Throws<DirectoryNotFoundException>(() => IdxDirectory.Load(missing));

        // Assert
        Assert.StartsWith($"{missing}: no such directory", error.Message);
    }

    private static byte[] Bytes(Action<Stream> write)
    {
        var stream = new MemoryStream();
        write(stream);
        return stream.ToArray();
    }

    private string WriteFile(string name, byte[] content, bool gzip = false)
    {
        string path = _folder.File(name);
        using var file = File.Create(path);
        if (gzip)
        {
            using var compressor = new GZipStream(file, CompressionLevel.Fastest);
            compressor.Write(content);
        }
        else
        {
            file.Write(content);
        }
        return path;
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Reads the fields <see cref="WireWriter"/> writes, from one array or from the pieces of a chunked transfer alike,
/// so joined pieces never need copying into one buffer first. Every read checks the remaining length before
/// touching or allocating anything, so a hostile count cannot make it allocate more than the input holds.
/// </summary>
/// <remarks>
/// Problems are raised as the exception <c>error</c> makes of a sentence naming the field: the wire raises
/// <see cref="System.Runtime.Serialization.SerializationException"/>s naming the message, checkpoints
/// <see cref="InvalidDataException"/>s.
/// </remarks>
internal ref struct WireReader
{
    private SequenceReader<byte> _reader;
    private readonly Func<string, Exception> _error;
    private readonly WeightBuffers? _buffers;

    /// <param name="error">Makes the exception to throw from a description of the problem.</param>
    /// <param name="buffers">Where float arrays come from; null for fresh arrays.</param>
    public WireReader(ReadOnlySequence<byte> input, Func<string, Exception> error, WeightBuffers? buffers = null)
    {
        _reader = new SequenceReader<byte>(input);
        _error = error;
        _buffers = buffers;
    }

    public WireReader(ReadOnlyMemory<byte> input, Func<string, Exception> error, WeightBuffers? buffers = null)
        : this(new ReadOnlySequence<byte>(input), error, buffers)
    {
    }

    public readonly long Remaining => _reader.Remaining;

    public readonly long Consumed => _reader.Consumed;

    public readonly Exception Error(string problem) => _error(problem);

    private readonly void Need(long count, string field)
    {
        if (count > _reader.Remaining)
        {
            throw Error($"payload truncated: {field} needs {count} bytes at offset {_reader.Consumed} "
                + $"but only {_reader.Remaining} remain");
        }
    }

    public byte Byte(string field)
    {
        Need(1, field);
        _reader.TryRead(out byte value);
        return value;
    }

    public int Int32(string field)
    {
        Need(4, field);
        _reader.TryReadLittleEndian(out int value);
        return value;
    }

    public long Int64(string field)
    {
        Need(8, field);
        _reader.TryReadLittleEndian(out long value);
        return value;
    }

    public double Double(string field) => BitConverter.Int64BitsToDouble(Int64(field));

    /// <summary>
    /// A count of items of at least <paramref name="unit"/> bytes each, refused when negative, above
    /// <paramref name="max"/>, or more than the remaining bytes can hold.
    /// </summary>
    public int Count(string field, long unit, long max = int.MaxValue)
    {
        int count = Int32(field + " length");
        if (count < 0)
        {
            throw Error($"{field} has negative length {count}");
        }
        if (count > max)
        {
            throw Error($"{field} length {count} exceeds the limit of {max}");
        }
        if (count * unit > _reader.Remaining)
        {
            throw Error($"payload truncated: {field} claims {count} × {unit} bytes at offset {_reader.Consumed} "
                + $"but only {_reader.Remaining} remain");
        }
        return count;
    }

    /// <summary>Skips <paramref name="count"/> bytes the caller has already checked (a file's magic).</summary>
    public void Skip(int count, string field)
    {
        Need(count, field);
        _reader.Advance(count);
    }

    /// <summary>A length-prefixed UTF-8 string of at most <paramref name="maxChars"/> characters, refused before allocating when its bytes could not fit.</summary>
    public string String(string field, int maxChars)
    {
        // UTF-8 takes at most 3 bytes per UTF-16 character.
        var value = Utf8(field, Math.Min(WireWriter.MaxStringBytes, 3L * maxChars));
        return value.Length <= maxChars ? value : throw Error($"{field} has {value.Length} characters, more than the {maxChars} allowed");
    }

    public string String(string field) => Utf8(field, WireWriter.MaxStringBytes);

    private string Utf8(string field, long maxBytes)
    {
        int length = Count(field, 1, maxBytes);
        ReadOnlySpan<byte> bytes;
        if (_reader.UnreadSpan.Length >= length)
        {
            bytes = _reader.UnreadSpan[..length];
            _reader.Advance(length);
        }
        else
        {
            var joined = new byte[length];
            Copy(joined);
            bytes = joined;
        }
        try
        {
            return WireWriter.Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw Error($"{field} is not valid UTF-8 ({e.Message})");
        }
    }

    /// <summary>A length-prefixed array of float32; from the weight pool unless <paramref name="pooled"/> is false (a small part).</summary>
    public float[] Floats(string field, bool pooled = true)
    {
        int count = Count(field, 4, Array.MaxLength);
        // Every element is overwritten below, so a reused array (or an unzeroed new one) is safe.
        var values = (pooled ? _buffers?.Rent(count) : null) ?? GC.AllocateUninitializedArray<float>(count);
        Copy(MemoryMarshal.AsBytes(values.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            var bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
        return values;
    }

    /// <summary>A length-prefixed array of int32, little-endian.</summary>
    public int[] Int32s(string field)
    {
        int count = Count(field, 4, Array.MaxLength);
        var values = GC.AllocateUninitializedArray<int>(count);
        Copy(MemoryMarshal.AsBytes(values.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.ReverseEndianness(values, values);
        }
        return values;
    }

    /// <summary>A length-prefixed block: a view into the input when it is one array (a frame), else a copy.</summary>
    public ReadOnlyMemory<byte> Bytes(string field)
    {
        int count = Count(field, 1, Array.MaxLength);
        var bytes = _reader.UnreadSequence.Slice(0, count);
        _reader.Advance(count);
        return bytes.IsSingleSegment ? bytes.First : bytes.ToArray();
    }

    /// <summary>Refuses anything after the last field.</summary>
    public readonly void End()
    {
        if (_reader.Remaining != 0)
        {
            throw Error($"{_reader.Remaining} trailing bytes after the last field at offset {_reader.Consumed}");
        }
    }

    /// <summary>Copies the next <paramref name="destination"/>.Length bytes, across pieces if need be.</summary>
    private void Copy(Span<byte> destination)
    {
        _reader.TryCopyTo(destination);
        _reader.Advance(destination.Length);
    }
}

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Writes little-endian binary fields: every wire message and every checkpoint file. It works in one of two modes.
/// Measuring (<see cref="Measure"/>) writes nothing and only counts in <see cref="Position"/> the bytes the same
/// calls would write, checking every value on the way; writing fills a buffer of exactly that size. A format is one
/// method that calls the writer, run once to measure and once to write, so a size and its writer cannot disagree.
/// </summary>
/// <remarks>
/// A string is an <c>i32</c> byte count and that many UTF-8 bytes; a <c>float[]</c> an <c>i32</c> element count and
/// the raw IEEE-754 float32 values; a byte block an <c>i32</c> byte count and the bytes.
/// </remarks>
internal ref struct WireWriter
{
    /// <summary>Longest string accepted either way: client ids and failure reasons are far shorter.</summary>
    public const int MaxStringBytes = 1 << 20;

    // Strict both ways: an unpaired surrogate or invalid UTF-8 is an error, never silently replaced.
    internal static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Span<byte> _buffer;
    private readonly bool _measuring;
    private readonly string _subject;
    private long _position;

    /// <param name="buffer">Exactly as long as a measuring pass over the same calls counted.</param>
    /// <param name="subject">What is written (a message type name), for error messages.</param>
    public WireWriter(Span<byte> buffer, string subject)
    {
        _buffer = buffer;
        _subject = subject;
    }

    private WireWriter(string subject)
    {
        _measuring = true;
        _subject = subject;
    }

    /// <summary>A writer that writes nothing and counts the bytes.</summary>
    public static WireWriter Measure(string subject) => new(subject);

    /// <summary>Bytes written (or counted) so far.</summary>
    public readonly long Position => _position;

    public void Byte(byte value)
    {
        if (!_measuring)
        {
            _buffer[(int)_position] = value;
        }
        _position += 1;
    }

    public void Int32(int value)
    {
        if (!_measuring)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[(int)_position..], value);
        }
        _position += 4;
    }

    public void Int64(long value)
    {
        if (!_measuring)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[(int)_position..], value);
        }
        _position += 8;
    }

    public void Double(double value) => Int64(BitConverter.DoubleToInt64Bits(value));

    /// <summary>A length-prefixed UTF-8 string; null, invalid Unicode and more than <see cref="MaxStringBytes"/> are refused.</summary>
    public void String(string? value, string field)
    {
        if (value is null)
        {
            throw Null(field);
        }
        if (_measuring)
        {
            int bytes;
            try
            {
                bytes = Utf8.GetByteCount(value);
            }
            catch (EncoderFallbackException e)
            {
                throw new SerializationException($"{_subject}.{field} is not valid Unicode: {e.Message}", e);
            }
            if (bytes > MaxStringBytes)
            {
                throw new SerializationException(
                    $"{_subject}.{field} is {bytes} bytes of UTF-8, more than the {MaxStringBytes} allowed");
            }
            _position += 4 + bytes;
            return;
        }
        int written = Utf8.GetBytes(value, _buffer[((int)_position + 4)..]);
        Int32(written);
        _position += written;
    }

    /// <summary>A length-prefixed array of float32, copied in bulk.</summary>
    public void Floats(float[]? values, string field)
    {
        if (values is null)
        {
            throw Null(field);
        }
        Int32(values.Length);
        if (!_measuring)
        {
            var target = _buffer.Slice((int)_position, values.Length * 4);
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(target);
            }
            else
            {
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(target[(i * 4)..], values[i]);
                }
            }
        }
        _position += 4L * values.Length;
    }

    /// <summary>A length-prefixed array of int32, little-endian.</summary>
    public void Int32s(int[]? values, string field)
    {
        if (values is null)
        {
            throw Null(field);
        }
        Int32(values.Length);
        if (!_measuring)
        {
            var target = _buffer.Slice((int)_position, values.Length * 4);
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(target[(i * 4)..], values[i]);
            }
        }
        _position += 4L * values.Length;
    }

    /// <summary>A length-prefixed block of bytes.</summary>
    public void Bytes(ReadOnlySpan<byte> values)
    {
        Int32(values.Length);
        Raw(values);
    }

    /// <summary>Bytes as they are, with no length before them (a file's magic).</summary>
    public void Raw(ReadOnlySpan<byte> values)
    {
        if (!_measuring)
        {
            values.CopyTo(_buffer[(int)_position..]);
        }
        _position += values.Length;
    }

    /// <summary>When writing, checks that the buffer was filled exactly: the measuring pass and this one made the same calls.</summary>
    public readonly void Finish()
    {
        if (!_measuring && _position != _buffer.Length)
        {
            throw new InvalidOperationException(
                $"{_subject}: wrote {_position} bytes but measured {_buffer.Length}; the format wrote differently in its two passes");
        }
    }

    /// <summary><paramref name="value"/>, refused when null: a field written as several (an options record's).</summary>
    public readonly T Required<T>(T? value, string field) where T : class => value ?? throw Null(field);

    private readonly SerializationException Null(string field) => new($"{_subject}.{field} is null");
}

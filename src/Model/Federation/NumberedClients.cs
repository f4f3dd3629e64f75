using System.Runtime.CompilerServices;
using System.Collections;
using System.Globalization;

namespace AkkaFed.Model.Federation;

/// <summary>
/// The ids of a simulation's clients, <c>client-00000</c>, <c>client-00001</c>, ...: client k is <c>"client-" + k</c>
/// with at least five digits (D5). Servers list clients in ordinal order of their ids, which past 99,999 is not the
/// order of k (<c>client-100000</c> sorts before <c>client-10001</c>); <see cref="OrdinalOrder"/> gives that order
/// without making or sorting a single string, so ten million clients need not exist as strings to be sampled.
/// </summary>
public static class NumberedClients
{
    public const string Prefix = "client-";

    private const int Width = 5;

    private const int FirstWithoutPadding = 10_000; // 10^(Width-1): from here on an id has no leading zero

    private const int FirstWider = 100_000; // 10^Width: from here on an id is longer than Width digits

    /// <summary>The longest id: the prefix and int.MaxValue's ten digits.</summary>
    public const int MaxLength = 17;

    public static string Id(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Prefix + index.ToString("D5", CultureInfo.InvariantCulture);
    }

    /// <summary><see cref="Id"/> of <paramref name="index"/> written into <paramref name="into"/> (at least <see cref="MaxLength"/> long); its length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    public static int Format(int index, Span<char> into)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        Prefix.CopyTo(into);
        index.TryFormat(into[Prefix.Length..], out int digits, "D5", CultureInfo.InvariantCulture);
        return Prefix.Length + digits;
    }

    /// <summary>Whether <paramref name="id"/> is <see cref="Id"/> of some index, and which.</summary>
    public static bool TryIndex(string id, out int index)
    {
        index = -1;
        if (!id.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var digits = id.AsSpan(Prefix.Length);
        if (digits.Length < Width || (digits.Length > Width && digits[0] == '0'))
        {
            return false;
        }
        long value = 0;
        foreach (char c in digits)
        {
            if (c is < '0' or > '9' || (value = value * 10 + (c - '0')) > int.MaxValue)
            {
                return false;
            }
        }
        index = (int)value;
        return true;
    }

    /// <summary>
    /// The indices 0..<paramref name="count"/>-1 in the ordinal order of their ids: element r is the index of the id of
    /// rank r. The ids are a trie of decimal strings, so the order is the trie's preorder: each five-digit id, then
    /// (when it has no leading zero) its ten one-digit-longer extensions, each followed by its own. O(count).
    /// </summary>
    public static int[] OrdinalOrder(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var order = new int[count];
        int at = 0;
        var pending = new Stack<int>();
        for (int top = 0; top < Math.Min(count, FirstWider); top++)
        {
            pending.Push(top);
            while (pending.Count > 0)
            {
                int index = pending.Pop();
                order[at++] = index;
                if (index < FirstWithoutPadding || index > (count - 1) / 10)
                {
                    continue; // a padded id has no longer ids after it, and past count/10 its extensions do not exist
                }
                // Extensions 10i+9 down to 10i, so that 10i comes off the stack first.
                for (long child = Math.Min(10L * index + 9, count - 1); child >= 10L * index; child--)
                {
                    pending.Push((int)child);
                }
            }
        }
        return order;
    }

    /// <summary>The ids of 0..n-1 (n = <paramref name="order"/>'s length) in ordinal order, made one at a time when read.</summary>
    public static IReadOnlyList<string> InOrdinalOrder(int[] order) => new OrdinalList(order);

    private sealed class OrdinalList(int[] order) : IReadOnlyList<string>
    {
        public int Count => order.Length;

        public string this[int rank] => Id(order[rank]);

        public IEnumerator<string> GetEnumerator()
        {
            foreach (int index in order)
            {
                yield return Id(index);
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

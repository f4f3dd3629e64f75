using System.Globalization;
using System.Text;
using AkkaFed.Model;

namespace AkkaFed.Host.Reports;

/// <summary>
/// A run's metrics.csv, read by column name: the columns may come in any order, optional ones may be missing
/// (<c>sim_time</c> on the wall clock, columns added after the file was written), and an empty cell (a failed
/// round's loss) is a value that does not exist.
/// </summary>
public sealed class MetricsCsv
{
    private readonly Dictionary<string, int> _columns;
    private readonly IReadOnlyList<string[]> _rows;

    private MetricsCsv(string name, string folder, Dictionary<string, int> columns, IReadOnlyList<string[]> rows)
    {
        Name = name;
        Folder = folder;
        _columns = columns;
        _rows = rows;
    }

    /// <summary>The run's name in a legend: its folder's name.</summary>
    public string Name { get; }

    /// <summary>The folder as the user named it, for errors.</summary>
    public string Folder { get; }

    public int RowCount => _rows.Count;

    public bool HasColumn(string column) => _columns.ContainsKey(column);

    /// <summary>The text of one cell (row 0 is the first round's); empty where the column is missing.</summary>
    public string Text(string column, int row) =>
        _columns.TryGetValue(column, out int index) && index < _rows[row].Length ? _rows[row][index] : "";

    /// <summary>The column's values, row by row: null where the cell is empty or the column is missing.</summary>
    public double?[] Values(string column)
    {
        var values = new double?[_rows.Count];
        if (!_columns.TryGetValue(column, out int index))
        {
            return values;
        }
        for (int i = 0; i < _rows.Count; i++)
        {
            string cell = index < _rows[i].Length ? _rows[i][index].Trim() : "";
            if (cell.Length == 0)
            {
                continue;
            }
            if (bool.TryParse(cell, out bool flag))
            {
                values[i] = flag ? 1 : 0;
            }
            else if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value))
            {
                values[i] = value;
            }
            else if (!cell.Equals("NaN", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"{Folder}: metrics.csv row {i + 2}, column {column}: '{cell}' is not a number");
            }
        }
        return values;
    }

    /// <summary>The <c>round</c> column, which every metrics.csv has and every row fills.</summary>
    public int[] Rounds()
    {
        var rounds = Values("round");
        var result = new int[rounds.Length];
        for (int i = 0; i < rounds.Length; i++)
        {
            if (rounds[i] is not { } round || round != Math.Floor(round))
            {
                throw new InvalidDataException($"{Folder}: metrics.csv row {i + 2} has no round number");
            }
            result[i] = (int)round;
        }
        return result;
    }

    /// <summary>
    /// Reads <paramref name="folder"/>/metrics.csv. A folder that is not a run's (missing, no metrics.csv) is a
    /// <see cref="SettingsException"/> naming it; a malformed file, an <see cref="InvalidDataException"/> naming it.
    /// </summary>
    public static MetricsCsv ReadFolder(string folder)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (!Directory.Exists(folder))
        {
            throw new SettingsException(folder, "no such folder");
        }
        string path = Path.Combine(folder, "metrics.csv");
        if (!File.Exists(path))
        {
            throw new SettingsException(folder, "no metrics.csv in this folder (is it a run's --output folder?)");
        }
        return Parse(name, folder, File.ReadAllText(path));
    }

    /// <summary>Parses CSV text (RFC 4180: quoted fields may hold commas, doubled quotes and line breaks).</summary>
    public static MetricsCsv Parse(string name, string folder, string text)
    {
        var records = SplitRecords(text, folder);
        if (records.Count == 0)
        {
            throw new InvalidDataException($"{folder}: metrics.csv is empty");
        }
        var columns = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < records[0].Length; i++)
        {
            columns.TryAdd(records[0][i].Trim(), i);
        }
        if (!columns.ContainsKey("round"))
        {
            throw new InvalidDataException($"{folder}: metrics.csv has no 'round' column (its header is '{string.Join(',', records[0])}')");
        }
        var rows = records.Skip(1).Where(r => !(r.Length == 1 && r[0].Length == 0)).ToList();
        var table = new MetricsCsv(name, folder, columns, rows);
        table.Rounds();
        return table;
    }

    private static List<string[]> SplitRecords(string text, string folder)
    {
        var records = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        bool any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    quoted = true;
                    any = true;
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    any = true;
                    break;
                case '\r':
                    break;
                case '\n':
                    fields.Add(field.ToString());
                    field.Clear();
                    records.Add(fields.ToArray());
                    fields.Clear();
                    any = false;
                    break;
                default:
                    field.Append(c);
                    any = true;
                    break;
            }
        }
        if (quoted)
        {
            throw new InvalidDataException($"{folder}: metrics.csv ends inside a quoted field");
        }
        if (any || field.Length > 0)
        {
            fields.Add(field.ToString());
            records.Add(fields.ToArray());
        }
        return records;
    }
}

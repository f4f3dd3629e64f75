using System.Text;
using Akka.Configuration;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>
/// Builds the run's configuration: command-line values win over a node's startup kit (its <c>node.conf</c>), which
/// wins over the <c>--config</c> file, which wins over the defaults in hocon/simulation.conf.
/// </summary>
public static class ConfigLoader
{
    /// <param name="cluster">Add the defaults of hocon/cluster.conf, for the nodes of a cluster.</param>
    /// <param name="kit">The settings of the node's startup kit, if it has one.</param>
    public static Config Load(string? file, IReadOnlyDictionary<string, string> overrides, bool cluster = false, Config? kit = null)
    {
        var config = FederationSettings.Defaults();
        if (cluster)
        {
            config = FederationSettings.Embedded("cluster.conf").WithFallback(config);
        }
        if (file is not null)
        {
            if (!File.Exists(file))
            {
                throw new SettingsException("config", $"{file} does not exist");
            }
            try
            {
                var text = File.ReadAllText(file);
                CheckStructure(text);
                var parsed = ConfigurationFactory.ParseString(text);
                CheckKeys(parsed, file, text);
                config = parsed.WithFallback(config);
            }
            catch (Exception e) when (e is not SettingsException)
            {
                throw new SettingsException("config", $"{file} is not valid HOCON: {e.Message}");
            }
        }
        if (kit is not null)
        {
            CheckKeys(kit, "the startup kit's node.conf", text: null);
            config = kit.WithFallback(config);
        }
        if (overrides.Count > 0)
        {
            var text = new StringBuilder();
            foreach (var (key, value) in overrides)
            {
                text.Append("akkafed.").Append(key).Append(" = ").Append(Quote(value)).Append('\n');
            }
            config = ConfigurationFactory.ParseString(text.ToString()).WithFallback(config);
        }
        return config;
    }

    /// <summary>Akka's own settings, which a file may hold beside AkkaFed's and are Akka's to check.</summary>
    private const string AkkaSection = "akka";

    /// <summary>Every key AkkaFed reads (as <c>rounds</c>, <c>cluster.port</c>, <c>transport.max-age</c>), with its default.</summary>
    public static IReadOnlyDictionary<string, string> KnownKeys { get; } = Leaves(FederationSettings.Defaults().GetConfig("akkafed"))
        .Concat(Leaves(FederationSettings.Embedded("cluster.conf").GetConfig("akkafed")))
        .GroupBy(pair => pair.Key)
        .ToDictionary(group => group.Key, group => Text(group.Last().Value));

    /// <summary>Every value of <paramref name="config"/> that is not an object, by its path (<c>akkafed.cluster.port</c>).</summary>
    internal static IEnumerable<KeyValuePair<string, Akka.Configuration.Hocon.HoconValue>> Leaves(Config config)
    {
        return config.IsEmpty ? [] : Walk(config.Root, "");

        static IEnumerable<KeyValuePair<string, Akka.Configuration.Hocon.HoconValue>> Walk(Akka.Configuration.Hocon.HoconValue value, string path)
        {
            if (!value.IsObject())
            {
                yield return new(path, value);
                yield break;
            }
            foreach (var (key, child) in value.GetObject().Items)
            {
                foreach (var leaf in Walk(child, path.Length == 0 ? key : $"{path}.{key}"))
                {
                    yield return leaf;
                }
            }
        }
    }

    private static string Text(Akka.Configuration.Hocon.HoconValue value) => value.IsString() ? value.GetString() : value.ToString();

    /// <summary>
    /// Refuses a key AkkaFed does not know under <c>akkafed</c>, any top-level key but <c>akkafed</c> and <c>akka</c>
    /// (an AkkaFed key written outside its block is named as such), and a duration without a unit: each would otherwise
    /// be ignored without a word. The nearest known key is suggested; <paramref name="text"/>, when given, finds the line.
    /// </summary>
    public static void CheckKeys(Config config, string source, string? text)
    {
        foreach (var (path, value) in Leaves(config))
        {
            string where = text is not null && LineOf(text, path) is { } line ? $"{source} line {line}" : source;
            int dot = path.IndexOf('.');
            string top = dot < 0 ? path : path[..dot];
            if (top == AkkaSection)
            {
                continue;
            }
            if (top != "akkafed")
            {
                throw new SettingsException("config", KnownKeys.ContainsKey(path)
                    ? $"{where}: '{path}' must be inside the akkafed {{ }} block: akkafed {{ {path} = ... }}"
                    : $"{where}: unknown key '{path}'{Suggest(path, KnownKeys.Keys.Select(k => "akkafed." + k))}: a config file holds " +
                      "akkafed { ... } (the keys of hocon/simulation.conf) and Akka's own akka { ... }");
            }
            string relative = path[(dot + 1)..];
            if (!KnownKeys.TryGetValue(relative, out var fallback))
            {
                throw new SettingsException("config", $"{where}: unknown key 'akkafed.{relative}'{Suggest(relative, KnownKeys.Keys)}");
            }
            if (IsDuration(fallback) && IsBareNumber(Text(value)))
            {
                throw new SettingsException(relative, $"must carry a unit, e.g. 2s or 500ms, got '{Text(value)}' ({where})");
            }
        }
    }

    /// <summary>A duration as HOCON writes it: a number and a unit (<c>60s</c>, <c>500ms</c>, <c>1h</c>).</summary>
    internal static bool IsDuration(string text) =>
        System.Text.RegularExpressions.Regex.IsMatch(text.Trim(), @"^-?[0-9.]+\s*(ns|nanos?|nanoseconds?|us|micros?|microseconds?|ms|millis?|milliseconds?|s|seconds?|m|minutes?|h|hours?|d|days?)$");

    /// <summary>A number without a unit, which Akka would read as milliseconds for a duration.</summary>
    internal static bool IsBareNumber(string text) =>
        double.TryParse(text.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);

    /// <summary><c>; did you mean 'rounds'?</c> for the known key nearest <paramref name="key"/>, if one is near.</summary>
    internal static string Suggest(string key, IEnumerable<string> known)
    {
        var nearest = known
            .Select(k => (Key: k, Distance: Math.Min(Distance(key, k), Distance(Last(key), Last(k)))))
            .OrderBy(c => c.Distance).ThenBy(c => c.Key, StringComparer.Ordinal)
            .FirstOrDefault();
        return nearest.Key is not null && nearest.Distance <= Math.Max(2, Last(key).Length / 3) ? $"; did you mean '{nearest.Key}'?" : "";
    }

    private static string Last(string path) => path[(path.LastIndexOf('.') + 1)..];

    /// <summary>The Levenshtein distance: edits (insert, delete, replace) from one to the other.</summary>
    internal static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    /// <summary>The first line of <paramref name="text"/> that sets the last part of <paramref name="path"/>, if any.</summary>
    private static int? LineOf(string text, string path)
    {
        var lines = text.Split('\n');
        string key = System.Text.RegularExpressions.Regex.Escape(Last(path));
        var pattern = new System.Text.RegularExpressions.Regex($@"(^|[\s{{,.]){key}\s*[=:{{]");
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int comment = line.IndexOf('#');
            if (pattern.IsMatch(comment < 0 ? line : line[..comment]))
            {
                return i + 1;
            }
        }
        return null;
    }

    /// <summary>
    /// Akka's HOCON parser accepts an unclosed brace or string without a word; a file cut short would then
    /// silently lose its settings. Check that braces, brackets and quotes balance.
    /// </summary>
    public static void CheckStructure(string text)
    {
        var open = new Stack<(char Bracket, int Line)>();
        int line = 1;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\n')
            {
                line++;
            }
            else if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n')
                {
                    i++;
                }
            }
            else if (c == '"')
            {
                bool triple = string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0;
                string close = triple ? "\"\"\"" : "\"";
                int start = line;
                int j = i + close.Length;
                while (j < text.Length && string.CompareOrdinal(text, j, close, 0, close.Length) != 0)
                {
                    if (!triple && text[j] == '\n')
                    {
                        break;
                    }
                    j += !triple && text[j] == '\\' ? 2 : 1;
                }
                if (j >= text.Length || text[j] == '\n' && !triple)
                {
                    throw new FormatException($"line {start}: unterminated string");
                }
                line += text.AsSpan(i, j - i).Count('\n');
                i = j + close.Length - 1;
            }
            else if (c is '{' or '[')
            {
                open.Push((c, line));
            }
            else if (c is '}' or ']')
            {
                char expected = c == '}' ? '{' : '[';
                if (open.Count == 0 || open.Pop().Bracket != expected)
                {
                    throw new FormatException($"line {line}: unexpected '{c}'");
                }
            }
        }
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            throw new FormatException($"line {at}: '{bracket}' is never closed");
        }
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}

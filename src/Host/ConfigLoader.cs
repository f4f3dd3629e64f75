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
                config = ConfigurationFactory.ParseString(text).WithFallback(config);
            }
            catch (Exception e) when (e is not SettingsException)
            {
                throw new SettingsException("config", $"{file} is not valid HOCON: {e.Message}");
            }
        }
        if (kit is not null)
        {
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

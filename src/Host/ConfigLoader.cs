using System.Text;
using Akka.Configuration;

namespace AkkaFed.Host;

/// <summary>
/// Builds the run's configuration: command-line values win over the <c>--config</c> file, which wins
/// over the defaults in hocon/simulation.conf.
/// </summary>
public static class ConfigLoader
{
    public static Config Load(string? file, IReadOnlyDictionary<string, string> overrides)
    {
        var config = FederationSettings.Defaults();
        if (file is not null)
        {
            if (!File.Exists(file))
            {
                throw new SettingsException($"config file {file} does not exist");
            }
            try
            {
                config = ConfigurationFactory.ParseString(File.ReadAllText(file)).WithFallback(config);
            }
            catch (Exception e) when (e is not SettingsException)
            {
                throw new SettingsException($"config file {file} is not valid HOCON: {e.Message}");
            }
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

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}

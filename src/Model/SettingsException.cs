namespace AkkaFed.Model;

/// <summary>
/// A setting that is missing, malformed or contradicts another. <see cref="Key"/> names it as HOCON and the
/// command line do (<c>min-clients</c>, <c>dp-clip-norm</c>, <c>cluster.port</c>), and the message is always
/// <c>"&lt;key&gt;: &lt;problem&gt;"</c>, so a user reads which setting to fix and why, never a .NET parameter name.
/// </summary>
/// <remarks>An <see cref="ArgumentException"/>: the settings are the argument that is wrong.</remarks>
public sealed class SettingsException : ArgumentException
{
    public SettingsException(string key, string problem)
        : base($"{key}: {problem}")
    {
        Key = key;
        Problem = problem;
    }

    /// <summary>The setting to fix, as HOCON names it.</summary>
    public string Key { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}

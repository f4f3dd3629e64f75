using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>
/// A fact that needs data installed on the machine: skipped, with the reason shown, only when the
/// folder is absent, so a machine that has the data always runs it.
/// </summary>
public sealed class FactWhenDirectoryExistsAttribute : FactAttribute
{
    public FactWhenDirectoryExistsAttribute(string directory, string howToGetIt)
    {
        if (!Directory.Exists(directory))
        {
            Skip = $"{directory} does not exist; {howToGetIt}";
        }
    }
}

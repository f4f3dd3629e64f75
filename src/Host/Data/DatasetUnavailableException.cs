namespace AkkaFed.Host.Data;

/// <summary>
/// A dataset that cannot be obtained on this machine: a tool or a folder is missing, or a download
/// failed. The message says what to install or which option to pass instead.
/// </summary>
public sealed class DatasetUnavailableException : Exception
{
    public DatasetUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

using AkkaFed.Actors.Security;
using AkkaFed.Model.Federation;

namespace AkkaFed.Actors.Protocol;

/// <summary>What a client id may be, wherever one arrives: 1 to <see cref="MaxLength"/> characters, none of them control characters.</summary>
public static class ClientIds
{
    public const int MaxLength = NodeIdentity.MaxClientIdLength;

    public static readonly string Invalid = $"it is not a client id (1 to {MaxLength} characters, no control characters)";

    public static bool IsValid(string? clientId) =>
        !string.IsNullOrEmpty(clientId) && clientId.Length <= MaxLength && !clientId.Any(char.IsControl);

    /// <summary>An id fit for a log line, whatever a sender put in it.</summary>
    public static string Printable(string? clientId) =>
        clientId is null ? "(null)" : FailureText.Bound(new string(clientId.Select(c => char.IsControl(c) ? '?' : c).ToArray()), MaxLength);
}

using AkkaFed.Model.Compression;

namespace AkkaFed.Actors.Protocol;

/// <summary>
/// Between a <see cref="ClientHost"/>, the server and the host's passing <see cref="ClientActor"/>s: the messages of
/// on-demand activation in a simulation. They never leave the process (none is an <see cref="IFederationMessage"/>):
/// a deployment's clients register one by one with <see cref="Training.RegisterClient"/>.
/// </summary>
public static class Hosting
{
    /// <summary>
    /// Host to server: I speak for the clients <c>NumberedClients.Id(k)</c>, k in [0, Examples.Length), client k holding
    /// <c>Examples[k]</c> training samples. The array is the server's from now on; the host never writes to it.
    /// </summary>
    public sealed record RegisterClients(int[] Examples);

    /// <summary>Server to host: registered, all <paramref name="Count"/> of them.</summary>
    public sealed record ClientsRegistered(int Count);

    /// <summary>Server to host: <paramref name="Request"/> (a fit or evaluate request) for hosted client <paramref name="Client"/>.</summary>
    public sealed record Deliver(int Client, IFederationMessage Request);

    /// <summary>
    /// A hosted client to its host: <paramref name="Reply"/> to the request it was activated for, and the state it keeps
    /// between rounds (<paramref name="Uplink"/>, its error-feedback residual), which it no longer touches once it is
    /// told to stop. Sent as its last act for that request.
    /// </summary>
    public sealed record Answered(int Client, IFederationMessage Reply, UplinkEncoder? Uplink);
}

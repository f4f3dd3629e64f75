using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace AkkaFed.Actors.Security;

/// <summary>
/// The deployment's own CA: a peer is trusted when its certificate chains to this CA (never to the operating system's
/// store) and carries an AkkaFed <see cref="NodeIdentity"/>.
/// </summary>
public sealed class TrustAnchor
{
    public TrustAnchor(X509Certificate2 ca)
    {
        Certificate = ca;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Null when <paramref name="peer"/> was issued by this CA and carries an identity; otherwise why it is refused.</summary>
    public string? Refusal(X509Certificate2? peer)
    {
        if (peer is null)
        {
            return "it presented no certificate";
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (!chain.Build(peer) || !chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(Certificate.RawData))
        {
            string status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            return $"its certificate '{peer.Subject}' (issued by '{peer.Issuer}') was not issued by this deployment's CA " +
                   $"'{Certificate.Subject}'{(status.Length > 0 ? $": {status}" : "")}";
        }
        try
        {
            NodeIdentity.Of(peer);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// The TLS handshake's check of a peer, on both sides of a connection: this CA instead of the system store.
    /// A refused peer is logged with the reason, as <c>refused TLS peer ...: ...</c>.
    /// </summary>
    public CertificateValidationCallback Validator() => (certificate, _, remotePeer, _, log) =>
    {
        string? refusal = Refusal(certificate);
        if (refusal is not null)
        {
            log?.Warning("refused TLS peer {0}: {1}", remotePeer, refusal);
        }
        return refusal is null;
    };
}

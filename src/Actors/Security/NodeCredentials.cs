using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Akka.Actor;

namespace AkkaFed.Actors.Security;

/// <summary>
/// A node's certificate with its private key, the identity it carries, and the CA it and its peers answer to.
/// It proves the node's identity to its peers by signing the node's own cluster address (<see cref="Prove"/>).
/// </summary>
public sealed class NodeCredentials
{
    public NodeCredentials(X509Certificate2 certificate, TrustAnchor anchor)
    {
        if (!certificate.HasPrivateKey)
            throw new ArgumentException($"the certificate '{certificate.Subject}' comes without its private key", nameof(certificate));
        if (anchor.Refusal(certificate) is { } refusal)
            throw new ArgumentException($"this node's own certificate is refused: {refusal}", nameof(certificate));
        Certificate = certificate;
        Anchor = anchor;
        Identity = NodeIdentity.Of(certificate);
    }

    public X509Certificate2 Certificate { get; }

    public TrustAnchor Anchor { get; }

    public NodeIdentity Identity { get; }

    /// <summary>This node's proof that the actor system at <paramref name="self"/> holds its certificate's key.</summary>
    public IdentityProof Prove(Address self)
    {
        using var key = Certificate.GetECDsaPrivateKey()
            ?? throw new InvalidOperationException($"the key of '{Certificate.Subject}' is not an ECDSA key");
        string address = self.ToString();
        return new IdentityProof(address, Certificate.RawData, key.SignData(IdentityProof.Signed(address), HashAlgorithmName.SHA256));
    }
}

/// <summary>
/// A node to a peer: I am the node at <paramref name="Address"/>, here is my certificate, and here is the address signed
/// with the certificate's key. Sent by <see cref="IdentityGuard"/> to every member; replaying another node's proof
/// only binds that node's own address to its own identity.
/// </summary>
public sealed record IdentityProof(string Address, byte[] Certificate, byte[] Signature) : Protocol.IFederationMessage
{
    public const int MaxCertificateBytes = 16 * 1024 * 1024;
    public const int MaxSignatureBytes = 512;

    internal static byte[] Signed(string address) => Encoding.UTF8.GetBytes($"akkafed-identity-proof/1|{address}");

    /// <summary>
    /// The identity this proof establishes for <paramref name="from"/> (the address it came from), or why it establishes none.
    /// </summary>
    public (NodeIdentity? Identity, string? Refusal) Verify(Address from, TrustAnchor anchor)
    {
        if (Address != from.ToString())
            return (null, $"it names {Address} but came from {from}");
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(Certificate);
        }
        catch (CryptographicException e)
        {
            return (null, $"its certificate cannot be read: {e.Message}");
        }
        using (certificate)
        {
            if (anchor.Refusal(certificate) is { } refusal)
                return (null, refusal);
            using var key = certificate.GetECDsaPublicKey();
            if (key is null || !key.VerifyData(Signed(Address), Signature, HashAlgorithmName.SHA256))
                return (null, $"its signature does not match the certificate of '{certificate.Subject}'");
            return (NodeIdentity.Of(certificate), null);
        }
    }
}

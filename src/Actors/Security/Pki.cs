using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaFed.Actors.Security;

/// <summary>
/// A deployment's private CA and the certificates it issues, each carrying a <see cref="NodeIdentity"/>. ECDSA P-256
/// keys, SHA-256 signatures. In memory only: <c>akkafed provision</c> writes them out.
/// </summary>
public static class Pki
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromDays(365);

    /// <summary>A self-signed CA certificate, with its key, that may sign node certificates only.</summary>
    public static X509Certificate2 CreateCa(string name, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=AkkaFed"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now + lifetime);
    }

    /// <summary>A certificate for the node <paramref name="identity"/>, with its key, signed by <paramref name="ca"/>.</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, NodeIdentity identity, TimeSpan lifetime)
    {
        using var caKey = ca.GetECDsaPrivateKey() ?? throw new ArgumentException("the CA certificate comes without its ECDSA key", nameof(ca));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={identity.Name}, O=AkkaFed"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        // Every node is a TLS server to some peers and a TLS client to others.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") }, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        request.CertificateExtensions.Add(identity.ToExtension());
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + lifetime < ca.NotAfter ? now + lifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }
}

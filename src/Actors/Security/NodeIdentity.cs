using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AkkaFed.Actors.Security;

/// <summary>What a node's certificate lets it be: the server, or a client node hosting certain client ids.</summary>
public enum NodeRole
{
    Server,
    Client,
}

/// <summary>
/// A node's provisioned identity, carried in its certificate (<see cref="ExtensionOid"/>) and signed by the project's
/// CA: its name, its role, and for a client node the client ids it may host, each an exact id or a prefix ending in
/// <c>*</c> (<c>site-a-*</c>). A server hosts no clients; a client node never runs the server.
/// </summary>
public sealed record NodeIdentity
{
    /// <summary>The X.509 extension that carries the identity (an OID under 2.25, derived from a UUID).</summary>
    public const string ExtensionOid = "2.25.252316127844390913429913651045926457537";

    public const int MaxNameLength = 64;
    public const int MaxClientIdLength = 128;
    public const int MaxClientPatterns = 100_000;

    private const string Header = "akkafed-identity/1";

    private readonly HashSet<string> _exact;
    private readonly string[] _prefixes;

    public NodeIdentity(string name, NodeRole role, IReadOnlyList<string> clientIds)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"a node name is 1 to {MaxNameLength} letters, digits, '-', '_' or '.', got '{name}'", nameof(name));
        if (role == NodeRole.Server && clientIds.Count > 0)
            throw new ArgumentException("a server identity hosts no clients", nameof(clientIds));
        if (clientIds.Count > MaxClientPatterns)
            throw new ArgumentException($"at most {MaxClientPatterns} client ids, got {clientIds.Count}", nameof(clientIds));
        foreach (var id in clientIds)
        {
            if (string.IsNullOrEmpty(id) || id.Length > MaxClientIdLength || id.Any(c => c is ',' or '\n' || char.IsControl(c)) ||
                id.IndexOf('*') is >= 0 and var star && star != id.Length - 1)
                throw new ArgumentException($"'{id}' is not a client id (1 to {MaxClientIdLength} characters, a '*' only at the end)", nameof(clientIds));
        }
        Name = name;
        Role = role;
        ClientIds = clientIds.ToArray();
        _exact = new HashSet<string>(clientIds.Where(id => !id.EndsWith('*')), StringComparer.Ordinal);
        _prefixes = clientIds.Where(id => id.EndsWith('*')).Select(id => id[..^1]).ToArray();
    }

    public string Name { get; }

    public NodeRole Role { get; }

    /// <summary>The client ids this node may host: exact ids, and prefixes ending in <c>*</c>.</summary>
    public IReadOnlyList<string> ClientIds { get; }

    /// <summary>Whether this node may speak for <paramref name="clientId"/>.</summary>
    public bool MayHost(string clientId) =>
        Role == NodeRole.Client && (_exact.Contains(clientId) || _prefixes.Any(p => clientId.StartsWith(p, StringComparison.Ordinal)));

    /// <summary>The same name, role and client ids in the same order: a proof heard again is no news.</summary>
    public bool Equals(NodeIdentity? other) =>
        other is not null && Name == other.Name && Role == other.Role && ClientIds.SequenceEqual(other.ClientIds, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Name, Role, ClientIds.Count);

    public override string ToString() => Role == NodeRole.Server ? $"{Name} (server)" : $"{Name} (client node, {ClientIds.Count} client ids)";

    /// <summary>The identity as the text of its certificate extension.</summary>
    public byte[] Encode() => Encoding.UTF8.GetBytes(
        $"{Header}\nname={Name}\nrole={(Role == NodeRole.Server ? "server" : "client")}\nclients={string.Join(',', ClientIds)}\n");

    /// <summary>Reads an identity written by <see cref="Encode"/>; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static NodeIdentity Decode(ReadOnlySpan<byte> bytes)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (ArgumentException)
        {
            throw new FormatException("the identity is not UTF-8 text");
        }
        var lines = text.Split('\n');
        if (lines.Length != 5 || lines[0] != Header || lines[4] != "")
            throw new FormatException($"the identity is not an {Header} record");
        string Field(int line, string key) => lines[line].StartsWith(key + "=", StringComparison.Ordinal)
            ? lines[line][(key.Length + 1)..]
            : throw new FormatException($"the identity's line {line + 1} is not '{key}=...'");
        var role = Field(2, "role") switch
        {
            "server" => NodeRole.Server,
            "client" => NodeRole.Client,
            var other => throw new FormatException($"the identity's role is '{other}', not server or client"),
        };
        string clients = Field(3, "clients");
        try
        {
            return new NodeIdentity(Field(1, "name"), role, clients.Length == 0 ? [] : clients.Split(','));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"the identity is invalid: {e.Message}");
        }
    }

    /// <summary>The identity <paramref name="certificate"/> carries; throws <see cref="FormatException"/> when it carries none or a bad one.</summary>
    public static NodeIdentity Of(X509Certificate2 certificate) =>
        certificate.Extensions[ExtensionOid] is { } extension
            ? Decode(Unwrap(extension.RawData))
            : throw new FormatException($"the certificate of '{certificate.Subject}' carries no AkkaFed identity");

    /// <summary>The extension that carries this identity in a certificate: its text as a DER UTF8String.</summary>
    public X509Extension ToExtension()
    {
        var der = new AsnWriter(AsnEncodingRules.DER);
        der.WriteCharacterString(UniversalTagNumber.UTF8String, Encoding.UTF8.GetString(Encode()));
        return new X509Extension(ExtensionOid, der.Encode(), critical: false);
    }

    private static byte[] Unwrap(byte[] der)
    {
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            string text = reader.ReadCharacterString(UniversalTagNumber.UTF8String);
            reader.ThrowIfNotEmpty();
            return Encoding.UTF8.GetBytes(text);
        }
        catch (AsnContentException)
        {
            throw new FormatException("the certificate's AkkaFed identity is not a DER UTF8String");
        }
    }
}

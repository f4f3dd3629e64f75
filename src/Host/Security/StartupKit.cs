using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using AkkaFed.Actors.Security;
using AkkaFed.Model;

namespace AkkaFed.Host.Security;

/// <summary>
/// One node's folder of a deployment made by <c>akkafed provision</c>: the deployment's CA (<c>ca.crt</c>), the node's
/// certificate and key (<c>node.crt</c>, <c>node.key</c>, PEM) and its settings (<c>node.conf</c>, HOCON). A node
/// started with <c>--kit</c> runs mutual TLS with these credentials. Every problem with a kit is a
/// <see cref="SettingsException"/> on <c>kit</c> naming the file.
/// </summary>
public sealed class StartupKit
{
    public const string CaFile = "ca.crt";
    public const string CertificateFile = "node.crt";
    public const string KeyFile = "node.key";
    public const string ConfigFile = "node.conf";

    private StartupKit(string folder, NodeCredentials credentials, Config config)
    {
        Folder = folder;
        Credentials = credentials;
        Config = config;
    }

    public string Folder { get; }

    public NodeCredentials Credentials { get; }

    public NodeIdentity Identity => Credentials.Identity;

    /// <summary>The node's settings from <c>node.conf</c>: a layer between the command line and <c>--config</c>.</summary>
    public Config Config { get; }

    /// <summary>
    /// The kit a node starts with: the one at <paramref name="folder"/>, or none with <paramref name="insecure"/>
    /// (after a warning on <paramref name="warnings"/>). Neither, or both, is refused.
    /// </summary>
    public static StartupKit? Choose(string? folder, bool insecure, TextWriter warnings)
    {
        if (folder is not null && insecure)
            throw new SettingsException("insecure", "contradicts --kit: a node runs either mutual TLS with its kit or plain TCP, not both");
        if (folder is null && !insecure)
            throw new SettingsException("kit", "a cluster node runs mutual TLS by default and needs its startup kit: make the kits with " +
                                               "`akkafed provision --output DIR` and start the node with --kit DIR/<node-name>, " +
                                               "or pass --insecure to run without TLS (for experiments on a trusted network)");
        if (insecure)
        {
            warnings.WriteLine("warning: --insecure: this node runs plain TCP without TLS; anyone who can reach its port can join the cluster");
            return null;
        }
        return Load(folder!);
    }

    /// <summary>Reads and checks the kit in <paramref name="folder"/>.</summary>
    public static StartupKit Load(string folder)
    {
        if (!Directory.Exists(folder))
            throw new SettingsException("kit", $"{folder} is not a folder (a node's folder made by akkafed provision)");
        string caPath = Path.Combine(folder, CaFile);
        string certificatePath = Path.Combine(folder, CertificateFile);
        string keyPath = Path.Combine(folder, KeyFile);
        string configPath = Path.Combine(folder, ConfigFile);
        var ca = Read(caPath, "the deployment's CA certificate", () => X509Certificate2.CreateFromPem(File.ReadAllText(caPath)));
        string certificatePem = Read(certificatePath, "this node's certificate", () => File.ReadAllText(certificatePath));
        string keyPem = Read(keyPath, "this node's private key", () => File.ReadAllText(keyPath));
        var certificate = Read(certificatePath, "this node's certificate", () => X509Certificate2.CreateFromPem(certificatePem));
        using (certificate)
        {
            if (certificate.GetECDsaPublicKey() is not { } publicKey)
                throw new SettingsException("kit", $"{certificatePath}: this node's certificate has no ECDSA key");
            publicKey.Dispose();
        }
        var withKey = Read(keyPath, $"the private key of {certificatePath}", () => X509Certificate2.CreateFromPem(certificatePem, keyPem));
        NodeCredentials credentials;
        try
        {
            credentials = new NodeCredentials(withKey, new TrustAnchor(ca));
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new SettingsException("kit", $"{certificatePath} does not fit {caPath}: {e.Message}");
        }
        var config = Read(configPath, "this node's settings", () =>
        {
            string text = File.ReadAllText(configPath);
            ConfigLoader.CheckStructure(text);
            return ConfigurationFactory.ParseString(text);
        });
        return new StartupKit(folder, credentials, config);
    }

    /// <summary>Refused unless this kit's certificate makes its node a <paramref name="role"/> (what <paramref name="command"/> runs).</summary>
    public StartupKit Require(NodeRole role, string command) => Identity.Role == role
        ? this
        : throw new SettingsException("kit", $"{Folder} is the kit of {Identity}: akkafed {command} needs the kit of a " +
                                             $"{(role == NodeRole.Server ? "server node (server-0, ...)" : "client node (client-0, ...)")}");

    /// <summary>Refused when this kit's certificate does not let its node host one of <paramref name="clientIds"/>.</summary>
    public void RequireHosts(IEnumerable<string> clientIds)
    {
        if (clientIds.FirstOrDefault(id => !Identity.MayHost(id)) is { } refused)
            throw new SettingsException("kit", $"the certificate of {Identity} in {Folder} does not let it host client '{refused}': " +
                                               "start it with the clients, partition-index, partition-count and node-name of its node.conf, " +
                                               "or provision kits for this shape");
    }

    private static T Read<T>(string path, string what, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SettingsException("kit", $"{path} is missing ({what})");
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException or ConfigurationException or IOException
                                      or UnauthorizedAccessException)
        {
            throw new SettingsException("kit", $"{path} cannot be read as {what}: {e.Message}");
        }
    }
}

using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AkkaFed.Actors;
using AkkaFed.Actors.Security;
using AkkaFed.Model;

namespace AkkaFed.Host.Security;

/// <summary>The shape of a deployment to provision: its nodes, its clients, and where the servers listen.</summary>
/// <param name="Clients">Clients of the shared dataset, shared out over the client nodes as <c>akkafed client --partition-index j
/// --partition-count M</c> does.</param>
/// <param name="ServerHosts">The server nodes' addresses, written into every kit's seed nodes; empty to give them on the command line.</param>
public sealed record Deployment(string Output, int Servers, int ClientNodes, int Clients, TimeSpan Lifetime, IReadOnlyList<string> ServerHosts, int Port)
{
    public const int DefaultPort = 4053;

    /// <summary>A deployment on this machine, for a demonstration or a test: its kits valid for a week, the servers' addresses given at start.</summary>
    public static Deployment Local(string output, int servers, int clientNodes, int clients) =>
        new(output, servers, clientNodes, clients, TimeSpan.FromDays(7), [], DefaultPort);

    /// <summary>The command-line arguments that start node <paramref name="name"/> of this deployment: its kit, or <c>--insecure</c>.</summary>
    public string[] NodeArguments(string name, bool insecure) => insecure ? ["--insecure"] : ["--kit", ProvisionCommand.KitOf(Output, name)];

    public static string ServerName(int index) => $"server-{index}";

    public static string ClientNodeName(int index) => $"client-{index}";

    /// <summary>The client ids client node <paramref name="node"/> may host: its share of the shared dataset, and its own data.</summary>
    public IReadOnlyList<string> ClientIdsOf(int node) => Enumerable.Range(0, Clients).Where(k => k % ClientNodes == node)
        .Select(FederatedProcess.ClientId).Append($"{ClientNodeName(node)}-*").ToArray();

    /// <summary>The seed nodes every kit lists, or empty when the server hosts are not known.</summary>
    public string SeedNodes => string.Join(',', ServerHosts.Select(host => $"akka.ssl.tcp://akkafed@{host}:{Port}"));

    public Deployment Validate()
    {
        if (Servers < 1)
            throw new SettingsException("servers", $"must be at least 1, got {Servers}");
        if (ClientNodes < 1)
            throw new SettingsException("client-nodes", $"must be at least 1, got {ClientNodes}");
        if (Clients < 1)
            throw new SettingsException("clients", $"must be at least 1, got {Clients}");
        if ((Clients + ClientNodes - 1) / ClientNodes >= NodeIdentity.MaxClientPatterns)
            throw new SettingsException("clients", $"at most {NodeIdentity.MaxClientPatterns - 1} clients per client node fit in a certificate, " +
                                                   $"got {Clients} over {ClientNodes} nodes: provision more client nodes");
        if (Lifetime < TimeSpan.FromDays(1))
            throw new SettingsException("lifetime", $"must be at least 1 day, got {Lifetime.TotalDays} days");
        if (ServerHosts.Count > 0 && ServerHosts.Count != Servers)
            throw new SettingsException("server-hosts", $"lists {ServerHosts.Count} hosts for {Servers} servers: give one per server");
        if (ServerHosts.FirstOrDefault(host => host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is '"' or '\\' or ',' or '/' or '@')) is { } bad)
            throw new SettingsException("server-hosts", $"'{bad}' is not a host name or address");
        if (Port is < 1 or > 65535)
            throw new SettingsException("port", $"must be from 1 to 65535, got {Port}");
        return this;
    }
}

/// <summary>
/// <c>akkafed provision --output DIR</c>: a deployment's private CA and a startup kit per node (<see cref="StartupKit"/>).
/// The CA's key is written to <c>DIR/ca</c> only, to be kept offline: nothing but issuing more kits needs it.
/// </summary>
public static class ProvisionCommand
{
    public const string CaFolder = "ca";
    public const string CaKeyFile = "ca.key";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerFolder = OwnerOnly | UnixFileMode.UserExecute;
    private const UnixFileMode Public = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "folder to write the CA and the node kits to (must not hold a kit yet)", Required = true };
        var servers = new Option<int>("--servers") { Description = "server nodes (server-0, ...)", DefaultValueFactory = _ => 1 };
        var clientNodes = new Option<int>("--client-nodes") { Description = "client nodes (client-0, ...)", DefaultValueFactory = _ => 3 };
        var clients = new Option<int?>("--clients")
        {
            Description = "clients of the shared dataset, shared out over the client nodes as --partition-index/--partition-count do " +
                          "(default: the clients setting's default, 80)",
        };
        var serverHosts = new Option<string?>("--server-hosts")
        {
            Description = "comma-separated addresses of the server nodes, one per server: written into every kit's seed nodes " +
                          "(default: none, give --host and --seed-nodes when starting)",
        };
        var port = new Option<int>("--port") { Description = "the server nodes' port, with --server-hosts", DefaultValueFactory = _ => Deployment.DefaultPort };
        var lifetime = new Option<int>("--lifetime") { Description = "days the certificates are valid", DefaultValueFactory = _ => (int)Pki.DefaultLifetime.TotalDays };
        var command = new Command("provision", "Make a deployment's private CA and a startup kit (certificate, key, settings) for each node.")
        {
            output, servers, clientNodes, clients, serverHosts, port, lifetime,
        };
        command.SetAction(async (parse, _) => await Cli.Guard(() =>
        {
            var deployment = new Deployment(parse.GetValue(output)!, parse.GetValue(servers), parse.GetValue(clientNodes),
                parse.GetValue(clients) ?? DefaultClients(), TimeSpan.FromDays(parse.GetValue(lifetime)),
                (parse.GetValue(serverHosts) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                parse.GetValue(port));
            Provision(deployment, Console.Out);
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The <c>clients</c> setting's default (hocon/simulation.conf).</summary>
    public static int DefaultClients() => FederationSettings.Defaults().GetInt("akkafed.clients");

    /// <summary>The folder of node <paramref name="name"/>'s kit in a deployment written to <paramref name="output"/>.</summary>
    public static string KitOf(string output, string name) => Path.Combine(output, name);

    /// <summary>
    /// Writes the CA and every node's kit under the deployment's output folder and says what to copy where. Refused,
    /// with nothing written, when any of those folders exists already.
    /// </summary>
    public static void Provision(Deployment deployment, TextWriter report)
    {
        deployment.Validate();
        var nodes = Enumerable.Range(0, deployment.Servers)
            .Select(s => (Name: Deployment.ServerName(s), Identity: new NodeIdentity(Deployment.ServerName(s), NodeRole.Server, []), Index: s))
            .Concat(Enumerable.Range(0, deployment.ClientNodes).Select(j =>
                (Name: Deployment.ClientNodeName(j), Identity: new NodeIdentity(Deployment.ClientNodeName(j), NodeRole.Client, deployment.ClientIdsOf(j)), Index: j)))
            .ToArray();
        string caFolder = Path.Combine(deployment.Output, CaFolder);
        foreach (string folder in nodes.Select(n => KitOf(deployment.Output, n.Name)).Prepend(caFolder))
        {
            if (Path.Exists(folder))
                throw new SettingsException("output", $"{folder} exists already: provision refuses to overwrite a kit " +
                                                      "(re-provisioning replaces every kit: move the old ones away first)");
        }

        var now = DateTimeOffset.UtcNow;
        string caName = $"AkkaFed CA {now:yyyy-MM-dd} {Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()}";
        using var ca = Pki.CreateCa(caName, deployment.Lifetime);
        string caPem = ca.ExportCertificatePem();
        Directory.CreateDirectory(deployment.Output);
        CreateFolder(caFolder);
        Write(Path.Combine(caFolder, StartupKit.CaFile), caPem, Public);
        using (var caKey = ca.GetECDsaPrivateKey()!)
        {
            Write(Path.Combine(caFolder, CaKeyFile), caKey.ExportPkcs8PrivateKeyPem(), OwnerOnly);
        }
        report.WriteLine($"provision: CA '{ca.Subject}', valid until {ca.NotAfter.ToUniversalTime():yyyy-MM-dd}: {caFolder}");
        foreach (var node in nodes)
        {
            string folder = KitOf(deployment.Output, node.Name);
            using var certificate = Pki.Issue(ca, node.Identity, deployment.Lifetime);
            CreateFolder(folder);
            Write(Path.Combine(folder, StartupKit.CaFile), caPem, Public);
            Write(Path.Combine(folder, StartupKit.CertificateFile), certificate.ExportCertificatePem(), Public);
            using (var key = certificate.GetECDsaPrivateKey()!)
            {
                Write(Path.Combine(folder, StartupKit.KeyFile), key.ExportPkcs8PrivateKeyPem(), OwnerOnly);
            }
            Write(Path.Combine(folder, StartupKit.ConfigFile), NodeConf(deployment, node.Identity, node.Index, certificate), Public);
            report.WriteLine($"provision: {node.Identity}: {folder}");
        }
        report.WriteLine($"provision: copy each node's folder (only its own) to its machine and start it with --kit <folder>: " +
                         $"akkafed server --kit .../{Deployment.ServerName(0)}, akkafed client --kit .../{Deployment.ClientNodeName(0)}, ...; " +
                         "node.conf in each folder shows its command line");
        report.WriteLine($"provision: keep {Path.Combine(caFolder, CaKeyFile)} offline: it issues certificates this deployment trusts, " +
                         "and no node needs it");
    }

    /// <summary>A node's settings, and in comments what it is and how to start it.</summary>
    private static string NodeConf(Deployment deployment, NodeIdentity identity, int index, X509Certificate2 certificate)
    {
        bool server = identity.Role == NodeRole.Server;
        string seeds = deployment.ServerHosts.Count > 0 ? "" : " --seed-nodes akka.ssl.tcp://akkafed@<server-0's address>:4053,...";
        string host = deployment.ServerHosts.Count > 0 && server ? "" : $" --host <this machine's address>{(server ? $" --port {Deployment.DefaultPort}" : "")}";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"""
            # AkkaFed startup kit of {identity}, issued by '{certificate.Issuer}', valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}.
            # Settings here come between the command line (which wins) and --config. Start this node with
            #   akkafed {(server ? "server" : "client")} --kit <this folder>{host}{seeds}{(server ? " --checkpoint-dir <shared folder>" : "")}
            # node.key is this node's private key: keep it readable by its owner only (mode 0600), and never copy it elsewhere.

            """);
        text.Append(CultureInfo.InvariantCulture, $"\nakkafed.clients = {deployment.Clients}\n");
        text.Append("akkafed.cluster {\n");
        text.Append(CultureInfo.InvariantCulture, $"  node-name = \"{identity.Name}\"\n");
        if (server && deployment.ServerHosts.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"  host = \"{deployment.ServerHosts[index]}\"\n  port = {deployment.Port}\n");
        }
        if (deployment.ServerHosts.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"  seed-nodes = \"{deployment.SeedNodes}\"\n");
        }
        if (!server)
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                  # This node hosts clients k of the shared dataset with k % partition-count = partition-index, as its
                  # certificate allows. With its own data, start it with --partition-index 0 --partition-count 1: its
                  # clients are then named {identity.Name}-0000, ..., as its certificate allows too.
                  partition-index = {index}
                  partition-count = {deployment.ClientNodes}

                """);
        }
        text.Append("}\n");
        return text.ToString();
    }

    private static void CreateFolder(string path) =>
        _ = OperatingSystem.IsWindows() ? Directory.CreateDirectory(path) : Directory.CreateDirectory(path, OwnerFolder);

    /// <summary>Writes a new file created with <paramref name="mode"/>, so a key is never readable by others, even for a moment.</summary>
    private static void Write(string path, string text, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
        {
            writer.Write(text);
        }
        if (!OperatingSystem.IsWindows())
        {
            // The umask may only have taken bits away; this states the mode whatever it was.
            File.SetUnixFileMode(path, mode);
        }
    }
}

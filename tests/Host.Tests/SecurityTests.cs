using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using AkkaFed.Actors.Security;
using AkkaFed.Host.Security;
using AkkaFed.Model;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary><c>akkafed provision</c>'s kits, and nodes that start with them, or are refused.</summary>
[Trait("Category", "Security")]
public sealed class ProvisionTests
{
    private static Deployment Provision(TempDirectory folder, string name = "kits", int servers = 2, int clientNodes = 3, int clients = 10)
    {
        var deployment = Deployment.Local(folder.File(name), servers, clientNodes, clients);
        ProvisionCommand.Provision(deployment, TextWriter.Null);
        return deployment;
    }

    private static string Kit(Deployment deployment, string node) => ProvisionCommand.KitOf(deployment.Output, node);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Provision_makes_a_ca_and_a_kit_per_node_whose_keys_only_their_owner_can_read()
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);

        Assert.Equal(new[] { "ca", "client-0", "client-1", "client-2", "server-0", "server-1" },
            Directory.GetDirectories(deployment.Output).Select(Path.GetFileName).Order());
        Assert.Equal(new[] { "ca.crt", "ca.key" }, Directory.GetFiles(Path.Combine(deployment.Output, "ca")).Select(Path.GetFileName).Order());
        string caKey = Path.Combine(deployment.Output, "ca", "ca.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(caKey));
        foreach (string node in new[] { "server-0", "server-1", "client-0", "client-1", "client-2" })
        {
            Assert.Equal(new[] { "ca.crt", "node.conf", "node.crt", "node.key" }, Directory.GetFiles(Kit(deployment, node)).Select(Path.GetFileName).Order());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Kit(deployment, node), "node.key")));
            // The CA's key never leaves ca/.
            Assert.DoesNotContain(File.ReadAllText(caKey).Trim(), Directory.GetFiles(Kit(deployment, node)).Select(File.ReadAllText).Select(t => t.Trim()));
        }
        // ca.key is the key of ca.crt, so more kits can be issued with it.
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(deployment.Output, "ca", "ca.crt"), caKey);
        Assert.True(ca.HasPrivateKey);
    }

    [Fact]
    public void Each_kit_carries_its_node_identity_and_the_settings_under_which_it_hosts_exactly_its_clients()
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);

        var server = StartupKit.Load(Kit(deployment, "server-1"));
        Assert.Equal(("server-1", NodeRole.Server), (server.Identity.Name, server.Identity.Role));
        Assert.False(server.Identity.MayHost("client-00000"));

        var kit = StartupKit.Load(Kit(deployment, "client-1"));
        Assert.Equal(("client-1", NodeRole.Client), (kit.Identity.Name, kit.Identity.Role));
        // The kit's settings, under the command line's, make the node host the ids its certificate allows, and only those.
        var config = ConfigLoader.Load(null, new Dictionary<string, string>(), cluster: true, kit.Config);
        var node = NodeSettings.Create(config, tls: true);
        int clients = FederationSettings.Create(config).Clients;
        Assert.Equal((1, 3, "client-1", 10), (node.PartitionIndex, node.PartitionCount, node.NodeName, clients));
        var hosted = Enumerable.Range(0, clients).Where(k => k % node.PartitionCount == node.PartitionIndex)
            .Select(Actors.FederatedProcess.ClientId).ToArray();
        Assert.Equal(new[] { "client-00001", "client-00004", "client-00007" }, hosted);
        Assert.All(hosted, id => Assert.True(kit.Identity.MayHost(id), id));
        Assert.All(new[] { "client-00000", "client-00002", "client-00010", "client-0-0000", "client-10-0000" },
            id => Assert.False(kit.Identity.MayHost(id), id));
        // With its own data (partition-count 1) its clients are named after it.
        Assert.True(kit.Identity.MayHost("client-1-0003"));
        var overridden = ConfigLoader.Load(null, new Dictionary<string, string> { ["cluster.partition-index"] = "0" }, cluster: true, kit.Config);
        Assert.Equal(0, NodeSettings.Create(overridden, tls: true).PartitionIndex);
    }

    [Fact]
    public void Provision_refuses_to_overwrite_an_existing_kit_and_writes_nothing()
    {
        using var folder = new TempDirectory();
        var first = Provision(folder);
        byte[] before = File.ReadAllBytes(Path.Combine(Kit(first, "client-0"), "node.crt"));

        var again = Assert.Throws<SettingsException>(() => Provision(folder));

        Assert.Contains($"{Path.Combine(first.Output, "ca")} exists already", again.Message);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(Kit(first, "client-0"), "node.crt")));

        // One node's folder in the way is enough, and nothing else is written either.
        Directory.CreateDirectory(folder.File("other/client-2"));
        var one = Assert.Throws<SettingsException>(() => Provision(folder, "other"));
        Assert.Contains($"{folder.File("other/client-2")} exists already", one.Message);
        Assert.Equal(new[] { "client-2" }, Directory.GetFileSystemEntries(folder.File("other")).Select(Path.GetFileName));
    }

    [Fact]
    public void A_kit_whose_certificate_another_ca_issued_is_refused_naming_its_files()
    {
        using var folder = new TempDirectory();
        var ours = Provision(folder, "ours");
        var theirs = Provision(folder, "theirs");
        foreach (string file in new[] { "node.crt", "node.key" })
        {
            File.Copy(Path.Combine(Kit(theirs, "client-0"), file), Path.Combine(Kit(ours, "client-0"), file), overwrite: true);
        }

        var error = Assert.Throws<SettingsException>(() => StartupKit.Load(Kit(ours, "client-0")));

        Assert.Equal("kit", error.Key);
        Assert.Contains(Path.Combine(Kit(ours, "client-0"), "node.crt"), error.Message);
        Assert.Contains(Path.Combine(Kit(ours, "client-0"), "ca.crt"), error.Message);
        Assert.Contains("was not issued by this deployment's CA", error.Message);
    }

    [Theory]
    [InlineData("node.key", "garbage", "cannot be read as the private key")]
    [InlineData("node.key", null, "is missing (this node's private key)")]
    [InlineData("node.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be read as this node's certificate")]
    [InlineData("ca.crt", null, "is missing (the deployment's CA certificate)")]
    [InlineData("node.conf", "akkafed.cluster { node-name = \"client-0\"", "cannot be read as this node's settings")]
    public void A_damaged_or_missing_kit_file_is_refused_naming_it(string file, string? content, string problem)
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);
        string path = Path.Combine(Kit(deployment, "client-0"), file);
        if (content is null)
        {
            File.Delete(path);
        }
        else
        {
            File.WriteAllText(path, content);
        }

        var error = Assert.Throws<SettingsException>(() => StartupKit.Load(Kit(deployment, "client-0")));

        Assert.Contains($"{path} {problem}", error.Message);
    }

    [Fact]
    public void Another_nodes_key_is_refused_as_not_the_key_of_the_certificate()
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);
        string key = Path.Combine(Kit(deployment, "client-0"), "node.key");
        File.Copy(Path.Combine(Kit(deployment, "client-1"), "node.key"), key, overwrite: true);

        var error = Assert.Throws<SettingsException>(() => StartupKit.Load(Kit(deployment, "client-0")));

        Assert.Contains($"{key} cannot be read as the private key of {Path.Combine(Kit(deployment, "client-0"), "node.crt")}", error.Message);
    }

    [Fact]
    public void A_node_needs_its_kit_or_insecure_and_not_both()
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);
        var warnings = new StringWriter();

        var neither = Assert.Throws<SettingsException>(() => StartupKit.Choose(null, insecure: false, warnings));
        var both = Assert.Throws<SettingsException>(() => StartupKit.Choose(Kit(deployment, "server-0"), insecure: true, warnings));
        Assert.Empty(warnings.ToString());
        var insecure = StartupKit.Choose(null, insecure: true, warnings);

        Assert.Contains("akkafed provision --output DIR", neither.Message);
        Assert.Contains("--insecure", neither.Message);
        Assert.Equal("insecure", both.Key);
        Assert.Null(insecure);
        Assert.StartsWith("warning: --insecure: this node runs plain TCP", warnings.ToString());
        Assert.Equal("server-0", StartupKit.Choose(Kit(deployment, "server-0"), insecure: false, warnings)!.Identity.Name);
    }

    [Theory]
    [InlineData(true, "akka.tcp://akkafed@10.0.0.1:4053", "uses akka.tcp://, but this node runs TLS: use akka.ssl.tcp://akkafed@host:port")]
    [InlineData(false, "akka.ssl.tcp://akkafed@10.0.0.1:4053", "uses akka.ssl.tcp://, but this node runs plain TCP (--insecure)")]
    [InlineData(true, "10.0.0.1:4053", "'10.0.0.1:4053' is not an address like akka.ssl.tcp://akkafed@host:port")]
    public void A_seed_node_of_the_other_transport_is_refused(bool tls, string seed, string problem)
    {
        var config = ConfigLoader.Load(null, new Dictionary<string, string> { ["cluster.seed-nodes"] = seed }, cluster: true);

        var error = Assert.Throws<SettingsException>(() => NodeSettings.Create(config, tls));

        Assert.Equal("cluster.seed-nodes", error.Key);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void A_seed_node_of_the_nodes_own_transport_is_taken()
    {
        var tls = ConfigLoader.Load(null, new Dictionary<string, string> { ["cluster.seed-nodes"] = "akka.ssl.tcp://akkafed@10.0.0.1:4053" }, cluster: true);
        var plain = ConfigLoader.Load(null, new Dictionary<string, string> { ["cluster.seed-nodes"] = "akka.tcp://akkafed@10.0.0.1:4053" }, cluster: true);

        Assert.Equal("akka.ssl.tcp://akkafed@10.0.0.1:4053", NodeSettings.Create(tls, tls: true).SeedNodes.Single());
        Assert.Equal("akka.tcp://akkafed@10.0.0.1:4053", NodeSettings.Create(plain, tls: false).SeedNodes.Single());
    }

    [Fact]
    public async Task A_client_whose_settings_would_host_clients_its_certificate_does_not_cover_is_refused_before_it_starts()
    {
        using var folder = new TempDirectory();
        var deployment = Provision(folder);
        var kit = StartupKit.Load(Kit(deployment, "client-0"));
        var config = ConfigLoader.Load(null, new Dictionary<string, string>
        {
            ["dataset"] = "synthetic", ["cluster.partition-index"] = "1", ["cluster.seed-nodes"] = "akka.ssl.tcp://akkafed@127.0.0.1:1",
        }, cluster: true, kit.Config);
        var output = new StringWriter();

        var error = await Assert.ThrowsAsync<SettingsException>(() => ClusterCommands.ClientAsync(config, kit, output, CancellationToken.None));

        Assert.Contains("does not let it host client 'client-00001'", error.Message);
        Assert.Empty(output.ToString());
    }
}

/// <summary>Real <c>akkafed</c> processes, refused at start or kept out of a cluster on mutual TLS.</summary>
[Trait("Category", "Security")]
public sealed class SecureNodeTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("server")]
    [InlineData("client")]
    public void A_node_started_without_a_kit_or_insecure_is_refused_and_told_what_to_do(string role)
    {
        var (exit, output, error) = SimulateTests.Akkafed(role, "--dataset", "synthetic", "--seed-nodes", "akka.ssl.tcp://akkafed@127.0.0.1:1");

        Assert.Equal(2, exit);
        Assert.Contains("error: kit: a cluster node runs mutual TLS by default", error);
        Assert.Contains("--kit DIR/<node-name>", error);
        Assert.DoesNotContain(" node akka", output);
    }

    [Theory]
    [InlineData("server", "client-0", "is the kit of client-0 (client node, 2 client ids): akkafed server needs the kit of a server node")]
    [InlineData("client", "server-0", "is the kit of server-0 (server): akkafed client needs the kit of a client node")]
    public void A_node_started_with_the_kit_of_the_other_role_is_refused(string role, string kit, string problem)
    {
        using var folder = new TempDirectory();
        var deployment = ClusterProcessTests.Provision(folder, servers: 1, clientNodes: 2, clients: 2);

        var (exit, output, error) = SimulateTests.Akkafed(role, "--kit", ProvisionCommand.KitOf(deployment.Output, kit), "--dataset", "synthetic",
            "--seed-nodes", "akka.ssl.tcp://akkafed@127.0.0.1:1");

        Assert.Equal(2, exit);
        Assert.Contains($"error: kit: {ProvisionCommand.KitOf(deployment.Output, kit)} {problem}", error);
        Assert.DoesNotContain(" node akka", output);
    }

    [Fact]
    public async Task Neither_a_plain_tcp_peer_nor_a_peer_of_another_ca_gets_into_a_tls_cluster_and_the_server_logs_why()
    {
        using var folder = new TempDirectory();
        var kits = ClusterProcessTests.Provision(folder, servers: 1, clientNodes: 2, clients: 4);
        var strangers = Deployment.Local(folder.File("strangers"), 1, 2, 4);
        ProvisionCommand.Provision(strangers, TextWriter.Null);
        int port = NodeProcess.FreePort();
        // Every client replies a second late: rounds go on while the intruders keep trying to join.
        string[] run =
        {
            "--dataset", "synthetic", "--model", "2nn", "--samples-per-client", "20", "--partition", "iid", "--clients", "4",
            "--straggler-fraction", "1", "--straggler-delay", "1s", "--round-deadline", "4s", "--min-clients", "2", "--rounds", "500",
        };
        string tls = $"akka.ssl.tcp://akkafed@127.0.0.1:{port}";

        using var server = NodeUnderTest.Start(log, "server", new[] { "server", "--port", $"{port}", "--seed-nodes", tls, "--wait-for-clients", "2",
            "--checkpoint-dir", folder.File("checkpoints"), "--output", folder.Path }.Concat(run).Concat(kits.NodeArguments("server-0", false)).ToArray());
        await server.WaitForLine("^server node akka.ssl.tcp://", TimeSpan.FromSeconds(120));
        using var honest = NodeUnderTest.Start(log, "client-0", new[] { "client", "--seed-nodes", tls }.Concat(run)
            .Concat(kits.NodeArguments("client-0", false)).ToArray());
        using var plain = NodeUnderTest.Start(log, "plain", new[] { "client", "--insecure", "--seed-nodes", $"akka.tcp://akkafed@127.0.0.1:{port}",
            "--partition-index", "1", "--partition-count", "2" }.Concat(run).ToArray());
        using var stranger = NodeUnderTest.Start(log, "stranger", new[] { "client", "--seed-nodes", tls }.Concat(run)
            .Concat(strangers.NodeArguments("client-1", false)).ToArray());

        // Akka's TLS handler on the plain peer's bytes, and the deployment's validator on the stranger's certificate.
        await server.WaitForLine(@"Rejected incoming connection from .* due to TLS handshake failure", TimeSpan.FromSeconds(180));
        await server.WaitForLine(@"not an SSL/TLS record", TimeSpan.FromSeconds(180));
        await server.WaitForLine(@"refused TLS peer .*: its certificate 'CN=client-1, O=AkkaFed' .* was not issued by this deployment's CA",
            TimeSpan.FromSeconds(180));
        int sofar = server.Lines.Count(l => l.StartsWith("Round ", StringComparison.Ordinal));
        // The intruders go on trying while three more rounds run.
        await server.WaitForLine(@"^Round (\d+): ", TimeSpan.FromSeconds(180), where: round => int.Parse(round.Groups[1].Value) > sofar + 3);

        // Only the honest node's two clients ever took part: the others' never registered.
        var rounds = server.Lines.Select(l => Regex.Match(l, @"^Round \d+: .* clients=(\d+)/(\d+) ")).Where(m => m.Success).ToArray();
        Assert.NotEmpty(rounds);
        Assert.All(rounds, m => Assert.Equal("2", m.Groups[2].Value));
        Assert.DoesNotContain(plain.Lines, l => l.StartsWith("round ", StringComparison.Ordinal));
        Assert.DoesNotContain(stranger.Lines, l => l.StartsWith("round ", StringComparison.Ordinal));
        Assert.Contains(honest.Lines, l => l.StartsWith("round ", StringComparison.Ordinal));
        // The stranger's own validator refuses the server too.
        Assert.Contains(stranger.Lines, l => l.Contains("refused TLS peer") && l.Contains("'CN=server-0, O=AkkaFed'"));
    }
}

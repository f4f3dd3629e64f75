using System.Globalization;
using AkkaFed.Actors;
using AkkaFed.Host;
using AkkaFed.Host.Data;
using AkkaFed.Host.Security;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;

namespace AkkaFed.Benchmarks;

/// <summary>
/// <c>--suite cluster</c>: the same rounds in one process and across one server and three
/// client processes on 127.0.0.1, the cluster on plain TCP and on mutual TLS in turn. Reports the round time of each,
/// what TLS costs (round time and loopback bytes against plain TCP), and the bytes a round moves against the
/// target of model bytes x 2 x participating clients. Every round of both must succeed with all its selected clients.
/// The single process runs before each pair of cluster runs (single, plain, TLS, single, plain, TLS), so that a change
/// in the machine's load falls on both sides of the ratio alike.
/// </summary>
public static class ClusterBenchmark
{
    private const int ClientNodes = 3;
    private const int Clients = 30;
    private const int PerRound = 10;
    private const int Samples = 600;

    private static string[] Settings(int rounds) =>
    [
        "--dataset", "fashion-mnist", "--model", "mcmahan-cnn", "--clients", $"{Clients}", "--samples-per-client", $"{Samples}",
        "--partition", "iid", "--client-fraction", "0.34", "--min-clients", $"{PerRound}", "--epochs", "1", "--batch-size", "10",
        "--client-lr", "0.01", "--round-deadline", "10m", "--rounds", $"{rounds + 1}",
    ];

    public static async Task<int> RunAsync(int rounds, TextWriter output)
    {
        string[] settings = Settings(rounds);
        long modelBytes = 4L * 1_663_370;
        long target = modelBytes * 2 * PerRound;
        output.WriteLine($"cluster benchmark: mcmahan-cnn, fashion-mnist, {Clients} clients x {Samples} samples, {PerRound} per round, " +
                         $"E=1, B=10; 1 warm-up round, then {rounds} measured; target bytes/round = {target / 1e6:F1} MB");

        var checks = new List<Check>();
        // The single process, then plain TCP and mutual TLS, twice, so that a change in the machine's load falls on all
        // three alike: this machine's speed drifts by tens of percent within minutes.
        var singles = new List<double>();
        var runs = new List<(bool Tls, double Seconds, double Payload, double Wire)>();
        for (int pass = 0; pass < 2; pass++)
        {
            double single = await SingleProcess(rounds, output, checks);
            singles.Add(single);
            output.WriteLine(Row($"single process, {Environment.ProcessorCount} training workers", single, "s/round"));
            foreach (bool tls in new[] { false, true })
            {
                var run = await Cluster(settings, rounds, checks, tls);
                runs.Add((tls, run.Seconds, run.Payload, run.Wire));
                output.WriteLine(Row($"1 server + {ClientNodes} client processes, {(tls ? "mutual TLS" : "plain TCP")}", run.Seconds, "s/round") +
                                 string.Create(CultureInfo.InvariantCulture, $"  (loopback {run.Wire / 1e6:F2} MB/round)"));
            }
        }
        double Mean(bool tls, Func<(bool Tls, double Seconds, double Payload, double Wire), double> of) =>
            runs.Where(r => r.Tls == tls).Average(of);
        double tlsSeconds = Mean(true, r => r.Seconds), plainSeconds = Mean(false, r => r.Seconds), singleSeconds = singles.Average();
        double payload = Mean(true, r => r.Payload), wire = Mean(true, r => r.Wire), plainWire = Mean(false, r => r.Wire);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"round time cluster / single process: plain TCP {plainSeconds:F2} / {singleSeconds:F2} s = {plainSeconds / singleSeconds:F2}, " +
            $"mutual TLS {tlsSeconds:F2} / {singleSeconds:F2} s = {tlsSeconds / singleSeconds:F2} (target <= 1.4)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"round time TLS / plain TCP: {tlsSeconds:F2} / {plainSeconds:F2} s = {tlsSeconds / plainSeconds:F3} (target <= 1.1)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loopback bytes/round TLS / plain TCP: {wire / 1e6:F2} / {plainWire / 1e6:F2} MB = {wire / plainWire:F4}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"payload bytes/round: {payload / 1e6:F2} MB = {payload / (double)target:F4} of target (target within 5%)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loopback bytes/round, TLS (whole run / rounds; all traffic: TCP/IP, TLS records, Akka framing, heartbeats, gossip): {wire / 1e6:F2} MB = {wire / target:F4} of target"));
        checks.Add(Check.FinitePositive("cluster: payload bytes per round", payload));
        return Check.Report(checks, output);
    }

    /// <summary>
    /// <c>--suite cluster --compression</c>: the cluster (mutual TLS) uncompressed, then with each compression of
    /// <see cref="CompressionBenchmark.Variants"/> (the server's settings; the clients follow its fit requests). The
    /// bytes each direction moves on the wire, from the metrics (serialized sizes, chunk headers included), as a share
    /// of the uncompressed run's, against the targets of issue 14; and the loopback bytes, everything on 127.0.0.1.
    /// </summary>
    public static async Task<int> RunCompressionAsync(int rounds, TextWriter output)
    {
        output.WriteLine($"cluster benchmark, compression: {Machine.Describe()}");
        output.WriteLine($"mcmahan-cnn, fashion-mnist, {Clients} clients x {Samples} samples, {PerRound} per round, 1 server + {ClientNodes} " +
                         $"client processes on mutual TLS; 1 warm-up round, then {rounds} measured");
        var checks = new List<Check>();
        (double Seconds, double Payload, double Wire, double Sent, double Received)? none = null;
        foreach (var variant in CompressionBenchmark.Variants)
        {
            var flags = variant.Settings.SelectMany(setting => new[] { $"--{setting.Key}", setting.Value });
            var run = await Cluster(Settings(rounds).Concat(flags).ToArray(), rounds, checks, tls: true);
            none ??= run;
            double up = run.Received / none.Value.Received, down = run.Sent / none.Value.Sent, both = run.Payload / none.Value.Payload;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {variant.Name,-28} uplink {run.Received / 1e6,7:F2} MB ({up:F4})  downlink {run.Sent / 1e6,7:F2} MB ({down:F4})  " +
                $"round {both:F4}  loopback {run.Wire / 1e6,7:F2} MB ({run.Wire / none.Value.Wire:F4})  {run.Seconds:F2} s/round"));
            if (variant.MaxShare is { } maxShare)
            {
                double share = variant.UplinkOnly ? up : both;
                checks.Add(new Check($"cluster, {variant.Name}: {(variant.UplinkOnly ? "update" : "round")} bytes on the wire as a share of uncompressed",
                    share <= maxShare, string.Create(CultureInfo.InvariantCulture, $"{share:F4}, at most {maxShare}")));
            }
        }
        return Check.Report(checks, output);
    }

    private static async Task<double> SingleProcess(int rounds, TextWriter output, List<Check> checks)
    {
        var data = DatasetCatalog.Load("fashion-mnist", null, DatasetCatalog.DefaultCacheDir(), 0, output.WriteLine);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, Clients, Samples, 0);
        var server = new ServerOptions(0.34, PerRound, TimeSpan.FromMinutes(10), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(1, 10, 0.01), 0);
        var spec = new SimulationSpec(ModelKind.McMahanCnn, data, partitions, server, SimulatedFaults.None, Environment.ProcessorCount);
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        var state = process.Initialize();
        (state, var warm) = await process.NextAsync(state);
        checks.AddRange(Check.FullRound("single process", warm, PerRound));
        double seconds = 0;
        for (int i = 0; i < rounds; i++)
        {
            (state, var metrics) = await process.NextAsync(state);
            checks.AddRange(Check.FullRound("single process", metrics, PerRound));
            seconds += metrics.WallSeconds;
        }
        return seconds / rounds;
    }

    /// <summary>One cluster run: mean round time, payload bytes per round (the server's sent: the model down;
    /// received: the updates up, as the metrics count them) and loopback bytes per round.</summary>
    private static async Task<(double Seconds, double Payload, double Wire, double Sent, double Received)> Cluster(string[] settings, int rounds,
        List<Check> checks, bool tls)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"akkafed-cluster-bench-{Guid.NewGuid():N}");
        int port = NodeProcess.FreePort();
        string[] join = { "--seed-nodes", $"{(tls ? NodeSettings.TlsScheme : NodeSettings.PlainScheme)}://akkafed@127.0.0.1:{port}" };
        // Mutual TLS, as a deployment runs, or plain TCP (--insecure) to measure what TLS costs.
        var deployment = Deployment.Local(Path.Combine(folder, "kits"), servers: 1, ClientNodes, Clients);
        ProvisionCommand.Provision(deployment, TextWriter.Null);
        var nodes = new List<NodeProcess>();
        // The whole run, joins and warm-up included: reading the counter when a round's line appears would
        // miss the start of the next round's broadcast, which is already on its way.
        long before = LoopbackBytes();
        // The server's last lines, for the error if it fails.
        var serverLines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        try
        {
            var server = NodeProcess.Start("server", new[] { "server", "--port", $"{port}", "--checkpoint-dir", Path.Combine(folder, "checkpoints"),
                "--output", folder }.Concat(join).Concat(deployment.NodeArguments(Deployment.ServerName(0), insecure: !tls)).Concat(settings), line =>
            {
                serverLines.Enqueue(line);
                if (serverLines.Count > 20)
                {
                    serverLines.TryDequeue(out _);
                }
            });
            nodes.Add(server);
            for (int k = 0; k < ClientNodes; k++)
            {
                // Each client node trains with one thread per core (the default), as the single process does. With one
                // thread per node the round waited for the node that drew the most of the sampled clients while the
                // other nodes' threads sat idle: seed 0 draws 3/5/2, 4/4/2 and 6/2/2 of its 10 clients in rounds
                // 2 to 4, 1.2 times the work of an even split on the slowest node. With a thread per core each, the
                // kernel keeps both cores busy until the last client or so. Each thread's libtorch runs one intra-op
                // thread (TrainerPool's lease), so what a client computes is the same.
                nodes.Add(NodeProcess.Start($"client-{k}", new[] { "client", "--port", "0", "--threads", $"{Environment.ProcessorCount}",
                    "--partition-index", $"{k}", "--partition-count", $"{ClientNodes}" }.Concat(join)
                    .Concat(deployment.NodeArguments(Deployment.ClientNodeName(k), insecure: !tls)).Concat(settings), _ => { }));
            }
            int exit = await server.WaitForExit(TimeSpan.FromMinutes(10 + 10 * rounds));
            long after = LoopbackBytes();
            if (exit != 0)
            {
                throw new InvalidOperationException($"the server node exited with {exit}:\n{string.Join('\n', serverLines)}");
            }

            // RFC 4180, as written: a failed round's quoted reason may hold commas.
            var csv = AkkaFed.Host.Reports.MetricsCsv.ReadFolder(folder);
            var all = Enumerable.Range(0, csv.RowCount).ToArray();
            var measured = all.Skip(1).ToArray();
            string Cell(int row, string name) => csv.Text(name, row);
            double Column(int row, string name) => double.Parse(Cell(row, name), CultureInfo.InvariantCulture);
            checks.Add(Check.Equal("cluster: rounds", all.Length, rounds + 1));
            foreach (var row in all)
            {
                string round = Cell(row, "round");
                checks.Add(new Check($"cluster, round {round}: succeeded", Cell(row, "succeeded") == "true", Cell(row, "succeeded")));
                checks.Add(Check.Equal($"cluster, round {round}: clients selected", (int)Column(row, "selected"), PerRound));
                checks.Add(Check.Equal($"cluster, round {round}: participants equal the selected", (int)Column(row, "participants"),
                    (int)Column(row, "selected")));
            }
            double sent = measured.Average(row => Column(row, "bytes_sent")), received = measured.Average(row => Column(row, "bytes_received"));
            return (measured.Average(row => Column(row, "wall_seconds")), sent + received, (after - before) / (double)(rounds + 1), sent, received);
        }
        finally
        {
            nodes.ForEach(node => node.Dispose());
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    /// <summary>Bytes sent on the loopback interface so far: every byte between the nodes, counted once.</summary>
    private static long LoopbackBytes()
    {
        foreach (var line in File.ReadLines("/proc/net/dev"))
        {
            var parts = line.Split(':', 2);
            if (parts.Length == 2 && parts[0].Trim() == "lo")
            {
                // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit bytes.
                return long.Parse(parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[8], CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException("no loopback interface in /proc/net/dev");
    }

    private static string Row(string name, double value, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"{name,-36} {value,8:F2} {unit}");
}

using System.Runtime.InteropServices;
using AkkaFed.Actors.Protocol;
using Akka.Actor;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using AkkaFed.Actors.Security;
using AkkaFed.Host.Security;

namespace AkkaFed.Host;

/// <summary>
/// <c>akkafed server</c> and <c>akkafed client</c>: one node of a federation on Akka.Cluster. Both return
/// when the run ends (exit code 0), or fails (1).
/// </summary>
public static class ClusterCommands
{
    /// <summary>A cluster's deadlines are real time: the simulated clock is refused, not ignored.</summary>
    private static FederationSettings OnTheWallClock(FederationSettings settings) => settings.SimulatedClock
        ? throw new SettingsException("clock", "a cluster runs on the wall clock: set clock = wall (the simulated clock is for akkafed simulate)")
        : settings;

    /// <param name="kit">This node's startup kit, for mutual TLS; null to run plain TCP (<c>--insecure</c>).</param>
    public static async Task<int> ServerAsync(Config config, StartupKit? kit, TextWriter output, CancellationToken cancel)
    {
        using var stop = new StopSignal(cancel);
        cancel = stop.Token;
        kit?.Require(NodeRole.Server, "server");
        var settings = OnTheWallClock(FederationSettings.Create(config));
        var node = NodeSettings.Create(config, tls: kit is not null).Joinable();
        // Checked before the data loads; the settings are recorded as the run starts.
        var folder = RunFolder.ForServer(settings.Output);
        var data = settings.LoadData(output.WriteLine);
        folder.WriteSettings(config, "server");
        using var test = new TensorData(data.Test);
        var options = new RunOptions(settings.Server, settings.Model, settings.Rounds, settings.MaxFailedRounds,
            node.WaitForClients == 0 ? settings.Clients : node.WaitForClients, node.CheckpointDir) { StartingWeights = ModelFiles.Initial(settings) };

        RunRecorder? metrics = null;
        bool active = false;
        RunEvents.Ended? result;
        while (true)
        {
            var system = StartNode(node.AkkaConfig(ClusterFederation.ServerRole, 1).WithFallback(config), kit);
            output.WriteLine($"server node {Address(system)}{As(kit)}: {settings.Rounds} rounds of {Architectures.NameOf(settings.Model)}, " +
                             $"waiting for {options.WaitForClients} clients, checkpoints in {node.CheckpointDir}");
            output.WriteLine(SimulateCommand.Banner(settings));
            var ended = new TaskCompletionSource<RunEvents.Ended>(TaskCreationOptions.RunContinuationsAsynchronously);
            var steppedDown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            // This node's driver, when it holds the singleton, reports on the local event stream.
            var reporter = system.ActorOf(RunListener.Props(message =>
            {
                switch (message)
                {
                    case RunEvents.Resumed resumed:
                        active = true;
                        metrics?.Dispose();
                        metrics = new RunRecorder(settings.Output);
                        foreach (var round in resumed.Completed)
                        {
                            metrics.Write(round);
                        }
                        output.WriteLine($"Resumed from checkpoint: rounds 1-{resumed.NextRound - 1} done, continuing with round {resumed.NextRound}");
                        break;
                    case RunEvents.RoundReport report:
                        active = true;
                        metrics ??= new RunRecorder(settings.Output);
                        metrics.Write(report.Metrics);
                        output.WriteLine(SimulateCommand.Describe(report.Metrics));
                        break;
                    case RunEvents.Ended end:
                        ended.TrySetResult(end);
                        break;
                    case RunEvents.SteppedDown down:
                        output.WriteLine($"this server stepped down: {down.Reason}");
                        steppedDown.TrySetResult();
                        break;
                }
            }), "run-reporter");
            system.EventStream.Subscribe(reporter, typeof(RunEvents.SteppedDown));
            system.EventStream.Subscribe(reporter, typeof(RunEvents.Resumed));
            system.EventStream.Subscribe(reporter, typeof(RunEvents.RoundReport));
            system.EventStream.Subscribe(reporter, typeof(RunEvents.Ended));
            // A standby server node learns of the end through the cluster.
            ClusterFederation.SubscribeToRun(system, system.ActorOf(RunListener.Props(message =>
            {
                if (message is RunEvents.Ended end)
                {
                    ended.TrySetResult(end);
                }
            }), "run-watcher"));
            ClusterFederation.StartServer(system, options, test);
            Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => output.WriteLine("this node is up in the cluster"));

            (result, bool removed) = await WaitForEnd(ended.Task, system, cancel, steppedDown.Task);
            if (cancel.IsCancellationRequested || !removed && !steppedDown.Task.IsCompleted)
            {
                break;
            }
            // Downed (paused past the failure detector, on the minority side of a partition, or by a resolver that
            // could not tell a crash from a partition), or taken over: the node joins again as a new member, as a
            // standby or, when no server is left, as the server that resumes from the newest checkpoint.
            output.WriteLine(removed ? "this node was removed from the cluster; joining again as a new member"
                : "this node left the cluster; joining again as a new member");
            // The run's files are the next active server's to write, from the checkpoint it resumes.
            metrics?.Dispose();
            metrics = null;
            active = false;
        }
        if (active)
        {
            var last = new CheckpointStore(node.CheckpointDir).LoadLatest(output.WriteLine);
            // After a refused resume the newest checkpoint is another run's: its model is not this run's to save.
            if (last is not null && (last.Fingerprint is null || last.Fingerprint.Differences(RunFingerprint.Of(options)).Count == 0))
            {
                string modelPath = ModelFiles.Save(settings.Model, last.State.Weights, settings.Output).StateDict;
                output.WriteLine($"Model: {modelPath}. Metrics: {metrics?.CsvPath}. Plot: {Reports.RunPlot.WriteAfterRun(settings.Output, output)}");
            }
        }
        metrics?.Dispose();
        return Report(result, output);
    }

    /// <param name="kit">This node's startup kit, for mutual TLS; null to run plain TCP (<c>--insecure</c>).</param>
    public static async Task<int> ClientAsync(Config config, StartupKit? kit, TextWriter output, CancellationToken cancel)
    {
        using var stop = new StopSignal(cancel);
        cancel = stop.Token;
        kit?.Require(NodeRole.Client, "client");
        var settings = OnTheWallClock(FederationSettings.Create(config));
        var node = NodeSettings.Create(config, tls: kit is not null).Joinable();
        // A share of a common dataset keeps the clients' global names; a node's own data is named after the node.
        bool shared = node.PartitionCount > 1;
        var mine = Enumerable.Range(0, settings.Clients).Where(k => k % node.PartitionCount == node.PartitionIndex)
            .Select(k => (Index: k, Id: shared ? FederatedProcess.ClientId(k) : $"{node.NodeName}-{k:D4}"))
            .ToArray();
        // Before any data loads: the servers would refuse clients the certificate does not cover, one by one.
        kit?.RequireHosts(mine.Select(client => client.Id));
        var data = settings.LoadData(output.WriteLine);
        var partitions = settings.Partitions(data);

        using var train = new TensorData(data.Train);
        using var trainers = new TrainerPool(settings.Model, torchThreads: 1);
        // At start the servers may still be loading; a node that joins again had servers a moment ago.
        var firstGrace = node.ServerGrace > ServerPresence.FirstServerGrace ? node.ServerGrace : ServerPresence.FirstServerGrace;
        while (true)
        {
            var system = StartNode(node.AkkaConfig(ClusterFederation.ClientRole, settings.Threads).WithFallback(config), kit);
            var proxy = ClusterFederation.ServerProxy(system);
            foreach (var (k, id) in mine)
            {
                system.ActorOf(ClientActor.Props(id, partitions[k], train, trainers, proxy, settings.Faults, settings.Attack), $"client-{k}");
            }
            output.WriteLine($"client node {Address(system)}{As(kit)}: {mine.Length} clients of {partitions.Count} " +
                             $"({data.Train.Name}, partition {node.PartitionIndex} of {node.PartitionCount})");
            Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => output.WriteLine("this node is up in the cluster"));

            var ended = new TaskCompletionSource<RunEvents.Ended>(TaskCreationOptions.RunContinuationsAsynchronously);
            var watcher = system.ActorOf(RunListener.Props(message =>
            {
                switch (message)
                {
                    case RunEvents.RoundReport report:
                        output.WriteLine($"round {report.Metrics.Round} done: {report.Metrics.Participants}/{report.Metrics.Selected} clients");
                        break;
                    case RunEvents.Ended end:
                        ended.TrySetResult(end);
                        break;
                }
            }), "run-watcher");
            ClusterFederation.SubscribeToRun(system, watcher);
            // The server also tells each client directly, and they pass it on here.
            system.EventStream.Subscribe(watcher, typeof(RunEvents.Ended));
            var serversGone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var isolated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(ServerPresence.Props(node.ServerGrace, firstGrace, waited =>
            {
                output.WriteLine($"no server node for {waited.TotalSeconds:F0}s: the run's end was not heard; giving up");
                serversGone.TrySetResult();
            }, () => isolated.TrySetResult()), "server-presence");

            var (end, removed) = await WaitForEnd(ended.Task, system, cancel, Task.WhenAny(serversGone.Task, isolated.Task));
            if (end is not null || cancel.IsCancellationRequested || !removed && !isolated.Task.IsCompleted)
            {
                return end is null && serversGone.Task.IsCompleted ? 1 : Report(end, output);
            }
            // Downed (paused past the failure detector, or cut off for long), or left with server members it cannot
            // reach: a removed member cannot come back, so the node joins again as a new one, and its clients
            // register again.
            output.WriteLine(removed ? "this node was removed from the cluster; joining again as a new member"
                : $"no server node reachable for {ServerPresence.IsolatedAfter.TotalSeconds:F0}s; joining again as a new member");
            firstGrace = node.ServerGrace;
        }
    }

    /// <summary>
    /// A node's cancellation, also set by SIGTERM: a supervisor (systemd, Kubernetes, <c>kill</c>) stopping a node makes
    /// it leave the cluster and exit, as Ctrl+C does. Left to .NET's default, SIGTERM ran Akka's exit hook first, and the
    /// node took its ended actor system for a downing and joined the cluster again.
    /// </summary>
    private sealed class StopSignal : IDisposable
    {
        private readonly CancellationTokenSource _source;
        private readonly PosixSignalRegistration _term;

        public StopSignal(CancellationToken cancel)
        {
            _source = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
            {
                signal.Cancel = true;
                try
                {
                    _source.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The node had stopped already: System.CommandLine's own SIGTERM handler ran first and cancelled
                    // the command, which returned and disposed of this signal while this handler was being dispatched.
                }
            });
        }

        public CancellationToken Token => _source.Token;

        public void Dispose()
        {
            _term.Dispose();
            _source.Dispose();
        }
    }

    /// <summary>
    /// The run's end, or null when the node stopped before it; <c>Removed</c> is true when the node's actor system
    /// ended on its own (the cluster downed it) rather than for the run, a cancellation or <paramref name="givenUp"/>.
    /// </summary>
    private static async Task<(RunEvents.Ended? End, bool Removed)> WaitForEnd(Task<RunEvents.Ended> ended, ActorSystem system,
        CancellationToken cancel, Task? givenUp = null)
    {
        var cancelled = Task.Delay(Timeout.Infinite, cancel);
        var finished = await Task.WhenAny(ended, system.WhenTerminated, cancelled, givenUp ?? Task.Delay(Timeout.Infinite, cancel));
        // Leave the cluster gracefully, so the others need not wait for the failure detector.
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return (finished == ended ? ended.Result : null, finished == system.WhenTerminated && !cancel.IsCancellationRequested);
    }

    private static int Report(RunEvents.Ended? ended, TextWriter output)
    {
        if (ended is null)
        {
            output.WriteLine("stopped before the run ended");
            return 1;
        }
        if (ended.Failure is not null)
        {
            output.WriteLine($"run failed after round {ended.LastRound}: {ended.Failure}");
            return 1;
        }
        output.WriteLine($"run finished after round {ended.LastRound}");
        return 0;
    }

    /// <summary>
    /// A node's actor system, on mutual TLS with its identity guard when it has a kit, logging through
    /// <see cref="NodeLogger"/> unless the configuration names its loggers (<c>--verbose</c> does).
    /// </summary>
    private static ActorSystem StartNode(Config config, StartupKit? kit)
    {
        var system = ActorSystem.Create("akkafed", SecureCluster.Setup(config.WithFallback(NodeLogger.Config), kit?.Credentials));
        SecureCluster.StartGuard(system);
        return system;
    }

    private static string As(StartupKit? kit) => kit is null ? " (insecure: plain TCP)" : $" (TLS, {kit.Identity})";

    private static string Address(ActorSystem system) =>
        Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
}

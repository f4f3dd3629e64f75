using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using AkkaFed.Actors;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Actors.Security;
using AkkaFed.Host.Security;
using AkkaFed.Model.Federation;

namespace AkkaFed.Host.Chaos;

/// <summary>
/// <c>akkafed chaos</c>: a real cluster on 127.0.0.1 (two server nodes sharing a checkpoint folder, and client nodes,
/// each an <c>akkafed</c> process), faults injected from <see cref="ChaosSchedule"/> as the rounds go by, then the
/// invariants checked on what the run left behind.
/// </summary>
/// <remarks>
/// One control loop owns all the state: node output, exits and a clock tick arrive as signals on a channel, and the
/// loop reacts to each (a round completed: inject what is due; a node exited: was it expected?). Every wait is
/// bounded, and a bound that passes is reported as what it is (a hang, a node that did not exit, one that did not
/// come back), never hidden.
/// </remarks>
internal sealed class ClusterSoak
{
    /// <summary>Before round 1: processes start, the cluster forms, clients register.</summary>
    private static readonly TimeSpan StartupBound = TimeSpan.FromMinutes(3);

    /// <summary>On top of the hang bound, for a gap that spans a failover (failure detector, resolver, hand-over, resume).</summary>
    private static readonly TimeSpan FailoverAllowance = TimeSpan.FromMinutes(1);

    /// <summary>After the last round: every node must have exited by then.</summary>
    private static readonly TimeSpan ExitBound = TimeSpan.FromMinutes(2);

    /// <summary>A node the soak restarted or continued must have all its clients selected again within this.</summary>
    private static readonly TimeSpan RejoinBound = TimeSpan.FromMinutes(2);

    /// <summary>A restarted server is a ready standby (joined, so that killing the active one leaves a server) after this.</summary>
    private static readonly TimeSpan StandbyReady = TimeSpan.FromSeconds(30);

    /// <summary>How long a killed server stays down when no other takes over (a takeover takes about 20 s).</summary>
    private static readonly TimeSpan ServerRestart = TimeSpan.FromSeconds(30);

    /// <summary>After a SIGCONT: an exit within this is the cluster having downed the paused node.</summary>
    private static readonly TimeSpan DownedAfterPause = TimeSpan.FromMinutes(1);

    private const int SamplesPerClient = 20;

    private static readonly Regex ServerRound = new(@"^Round (\d+): .* clients=(\d+)/(\d+) ");
    private static readonly Regex ClientRound = new(@"^round (\d+) done: ");
    private static readonly Regex Address = new(@"^(?:server|client) node akka(?:\.ssl)?\.tcp://akkafed@127\.0\.0\.1:(\d+)");
    private static readonly Regex Downing = new(@"SBR took decision Akka\.Cluster\.SBR\.(\w+) and is downing \[([^\]]*)\]");
    private static readonly Regex Ending = new(@"^(run finished after round \d+|run failed after round .*|stopped before the run ended)");

    private readonly ChaosOptions _options;
    private readonly TextWriter _log;
    private readonly ChaosInvariants _invariants = new();
    private readonly Channel<object> _signals = Channel.CreateUnbounded<object>();
    private readonly Dictionary<string, ChaosNode> _lives = new();
    private readonly Dictionary<string, StreamWriter> _nodeLogs = new();
    private readonly ChaosNode?[] _servers = new ChaosNode?[2];
    private readonly int[] _serverPorts = new int[2];
    private readonly ChaosNode?[] _clients;
    private readonly int[] _incarnations;
    private readonly Dictionary<string, int> _injected = new();
    private readonly List<ChaosEvent> _due = new();
    private readonly HashSet<ChaosEvent> _waitingLogged = new();
    private readonly List<(int Node, int AtRound)> _restarts = new();
    private readonly List<Task> _traffic = new();
    private readonly Random _random;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _checkpoints;

    /// <summary>The run's kits: every node runs mutual TLS, as a deployment does.</summary>
    private readonly Deployment _deployment;

    /// <summary>The credentials malformed traffic is sent with: a provisioned client node's, as a hostile insider has them.</summary>
    private NodeCredentials? _insider;
    private readonly string _logs;
    private readonly int _tailStart;

    private Queue<ChaosEvent> _schedule = new();
    private Phase _phase = Phase.Running;
    private int _lastRound;
    private DateTime _lastProgress = DateTime.UtcNow;
    private DateTime _endedAt;
    private DateTime _lastMemorySample;
    private ChaosNode? _active;
    private readonly Dictionary<int, ClientSlot> _clientSlots = new();

    /// <summary>Client nodes back in the cluster whose clients have not all been selected again yet, and since when.</summary>
    private readonly Dictionary<int, DateTime> _rejoining = new();
    private ServerSlot? _serverSlot;
    private DateTime? _failoverSince;
    private int _downedAfterPause;
    private readonly List<string> _failovers = new();

    private enum Phase
    {
        Running,
        Ending,
        Done,
    }

    private enum SlotState
    {
        Down,
        Paused,
        Recovering,
    }

    /// <summary>A client-node fault in progress, until that node is back in the cluster (it prints the run's reports again).</summary>
    private sealed class ClientSlot(int node, SlotState state)
    {
        public int Node { get; } = node;
        public SlotState State { get; set; } = state;

        /// <summary>When it went down, or, once <see cref="SlotState.Recovering"/>, when it came back.</summary>
        public DateTime Since { get; set; } = DateTime.UtcNow;
    }

    /// <summary>The one server fault in progress: a killed server waiting to be restarted, or a paused one.</summary>
    private sealed class ServerSlot(int server, SlotState state)
    {
        public int Server { get; } = server;
        public SlotState State { get; set; } = state;
        public DateTime Since { get; set; } = DateTime.UtcNow;
    }

    private sealed record Line(string Node, string Text);

    private sealed record Exit(string Node, int Code);

    private sealed record Note(string Text);

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    public ClusterSoak(ChaosOptions options, TextWriter log)
    {
        _options = options;
        _log = log;
        _clients = new ChaosNode?[options.ClientNodes];
        _incarnations = new int[options.ClientNodes];
        _random = new Random(options.Seed);
        _checkpoints = Path.Combine(options.Output, "checkpoints");
        _deployment = Deployment.Local(Path.Combine(options.Output, "kits"), servers: 2, options.ClientNodes, options.Clients);
        _logs = Path.Combine(options.Output, "logs");
        _tailStart = options.Rounds - ChaosSchedule.Tail(options.Rounds, options.Quick);
    }

    public async Task<int> RunAsync(CancellationToken cancel)
    {
        if (!LinuxProcesses.Supported)
        {
            throw new PlatformNotSupportedException("the cluster soak pauses and measures its nodes through Linux's /proc and signals");
        }
        var schedule = ChaosSchedule.Create(_options.Rounds, _options.Seed, _options.ClientNodes, _options.Quick);
        _schedule = new Queue<ChaosEvent>(schedule);
        PrepareOutput();
        Say($"cluster soak: 2 server nodes and {_options.ClientNodes} client nodes on 127.0.0.1, {_options.Clients} clients, " +
            $"{_options.Rounds} rounds, deadline {_options.Deadline.TotalSeconds:F0} s, seed {_options.Seed}, {schedule.Count} faults scheduled; " +
            $"node logs in {_logs}{(_options.NodeConfig is { } file ? $"; every node reads {file}" : "")}");
        foreach (var scheduled in schedule)
        {
            _log.WriteLine($"chaos: scheduled {scheduled}");
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var ticker = Ticks(stop.Token);
        try
        {
            for (int s = 0; s < 2; s++)
            {
                _serverPorts[s] = NodeProcess.FreePort();
            }
            for (int s = 0; s < 2; s++)
            {
                StartServer(s, incarnation: 0);
            }
            for (int k = 0; k < _options.ClientNodes; k++)
            {
                StartClient(k);
            }
            while (_phase != Phase.Done)
            {
                var signal = await _signals.Reader.ReadAsync(cancel);
                switch (signal)
                {
                    case Line line:
                        OnLine(line);
                        break;
                    case Exit exit:
                        OnExit(exit);
                        break;
                    case Note note:
                        Say(note.Text);
                        break;
                    case Tick:
                        OnTick();
                        break;
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var node in _lives.Values)
            {
                node.Dispose();
            }
            await Task.WhenAll(_traffic.Append(ticker).Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            foreach (var writer in _nodeLogs.Values)
            {
                lock (writer)
                {
                    writer.Dispose();
                }
            }
        }
        return Check();
    }

    private void PrepareOutput()
    {
        Directory.CreateDirectory(_options.Output);
        // A checkpoint left by an earlier run would be resumed from: every run starts from nothing.
        foreach (var folder in new[] { _checkpoints, _logs, _deployment.Output })
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        foreach (var file in new[] { "metrics.csv", "metrics.jsonl", "model.pt", "memory.csv" })
        {
            File.Delete(Path.Combine(_options.Output, file));
        }
        Directory.CreateDirectory(_logs);
        ProvisionCommand.Provision(_deployment, TextWriter.Null);
        _insider = StartupKit.Load(ProvisionCommand.KitOf(_deployment.Output, Deployment.ClientNodeName(_options.ClientNodes - 1))).Credentials;
    }

    private async Task Ticks(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(cancel))
            {
                _signals.Writer.TryWrite(Tick.Instance);
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private string Elapsed => string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,7:F1}s");

    private void Say(string text) => _log.WriteLine($"chaos: [{Elapsed}] {text}");

    private void Count(string kind)
    {
        _injected[kind] = _injected.GetValueOrDefault(kind) + 1;
        _invariants.Faults++;
    }

    // ---- Nodes ------------------------------------------------------------------------------------------------

    private string[] Common => new[]
    {
        "--seed-nodes", string.Join(',', _serverPorts.Select(p => $"{NodeSettings.TlsScheme}://akkafed@127.0.0.1:{p}")),
        "--dataset", "synthetic", "--model", "2nn", "--partition", "iid",
        "--clients", $"{_options.Clients}", "--samples-per-client", $"{SamplesPerClient}",
        "--rounds", $"{_options.Rounds}", "--seed", $"{_options.Seed}",
        "--round-deadline", $"{(int)_options.Deadline.TotalMilliseconds}ms", "--min-clients", $"{_options.MinClients}",
        "--client-fraction", "1", "--max-failed-rounds", "10", "--threads", "1",
    }.Concat(_options.NodeConfig is { } file ? new[] { "--config", Path.GetFullPath(file) } : Array.Empty<string>()).ToArray();

    private ChaosNode Launch(string name, bool server, int index, int incarnation, IEnumerable<string> args, ClientPersonality? personality)
    {
        var writer = new StreamWriter(Path.Combine(_logs, $"{name.Replace('#', '.')}.log")) { AutoFlush = true };
        _nodeLogs[name] = writer;
        var node = ChaosNode.Start(name, server, index, incarnation, args, line =>
        {
            lock (writer)
            {
                writer.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
            }
            _signals.Writer.TryWrite(new Line(name, line));
        }, _lastRound, personality);
        _lives[name] = node;
        node.Exited.ContinueWith(exited => _signals.Writer.TryWrite(new Exit(name, exited.Result)), TaskScheduler.Default);
        return node;
    }

    private void StartServer(int s, int incarnation)
    {
        var args = new[] { "server", "--port", $"{_serverPorts[s]}", "--checkpoint-dir", _checkpoints, "--output", _options.Output,
            "--wait-for-clients", $"{_options.Clients}" }.Concat(Common).Concat(_deployment.NodeArguments(Deployment.ServerName(s), insecure: false));
        var node = Launch($"server-{s}#{incarnation}", server: true, s, incarnation, args, null);
        node.Port = _serverPorts[s];
        _servers[s] = node;
        Say($"started {node.Name} (pid {node.Pid}, port {node.Port}){(incarnation > 0 ? " as the standby" : "")}");
    }

    private void StartClient(int k)
    {
        int incarnation = _incarnations[k]++;
        var personality = ChaosSchedule.Personality(k, incarnation, _options.ClientNodes);
        var args = new[] { "client", "--port", "0", "--partition-index", $"{k}", "--partition-count", $"{_options.ClientNodes}" }
            .Concat(Common).Concat(_deployment.NodeArguments(Deployment.ClientNodeName(k), insecure: false)).Concat(PersonalityArguments(k, personality));
        var node = Launch($"client-{k}#{incarnation}", server: false, k, incarnation, args, personality);
        _clients[k] = node;
        Say($"started {node.Name} (pid {node.Pid}): {personality.Name}");
        if (personality.IsFaulty)
        {
            Count($"{personality.Name} node start");
        }
    }

    /// <summary>The settings that make a client node behave as <paramref name="personality"/> says.</summary>
    private IEnumerable<string> PersonalityArguments(int node, ClientPersonality personality)
    {
        if (personality.StragglerFraction > 0)
        {
            yield return "--straggler-fraction";
            yield return personality.StragglerFraction.ToString(CultureInfo.InvariantCulture);
            yield return "--straggler-delay";
            yield return $"{(int)personality.StragglerDelay.TotalMilliseconds}ms";
        }
        if (personality.DropoutFraction > 0)
        {
            yield return "--dropout-fraction";
            yield return personality.DropoutFraction.ToString(CultureInfo.InvariantCulture);
        }
        if (personality.Attack != AttackKind.None)
        {
            yield return "--attack";
            yield return Attack.Names.First(pair => pair.Value == personality.Attack).Key;
            yield return "--attack-fraction";
            yield return OneAttacker(node).ToString("R", CultureInfo.InvariantCulture);
            yield return "--attack-scale";
            yield return personality.AttackScale.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// The attack-fraction that makes exactly one of <paramref name="node"/>'s clients an attacker: attackers are those
    /// whose seeded draw is below the fraction (<see cref="Attack.IsAttacker"/>), so a fraction between the two lowest
    /// draws picks the lowest alone.
    /// </summary>
    private double OneAttacker(int node)
    {
        var draws = ClientIds(node).Select(id => StableSeed.Uniform(_options.Seed, 0, $"attacker:{id}")).Order().ToArray();
        double fraction = (draws[0] + draws[1]) / 2;
        int attackers = ClientIds(node).Count(new Attack(AttackKind.Nan, fraction, Seed: _options.Seed).IsAttacker);
        return attackers == 1 ? fraction : throw new InvalidOperationException($"attack-fraction {fraction} makes {attackers} attackers on client-{node}");
    }

    private IEnumerable<string> ClientIds(int node) =>
        Enumerable.Range(0, _options.Clients).Where(k => k % _options.ClientNodes == node).Select(FederatedProcess.ClientId);

    private ChaosNode? Other(ChaosNode server) => _servers[1 - server.Index];

    // ---- Signals ----------------------------------------------------------------------------------------------

    private void OnLine(Line line)
    {
        if (!_lives.TryGetValue(line.Node, out var node))
        {
            return;
        }
        if (Address.Match(line.Text) is { Success: true } address)
        {
            node.Port = int.Parse(address.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        else if (Ending.Match(line.Text) is { Success: true } ending)
        {
            node.Ending = ending.Value;
            if (_phase == Phase.Running && ending.Value != $"run finished after round {_options.Rounds}")
            {
                Say($"{node.Name}: {ending.Value} (before round {_options.Rounds}): the run is over");
                BeginEnding();
            }
        }
        else if (Downing.Match(line.Text) is { Success: true } downing && downing.Groups[1].Value != "DownUnreachable")
        {
            // Downing the unreachable is the resolver's everyday work; any other decision downs reachable nodes.
            string decision = $"the split-brain resolver of {node.Name} took {downing.Groups[1].Value} after round {_lastRound}, downing [{downing.Groups[2].Value}]";
            Say(decision);
            if (downing.Groups[1].Value == "DownAll")
            {
                _invariants.Break(decision);
            }
            else if (_active?.Port is { } port && downing.Groups[2].Value.Contains($":{port}", StringComparison.Ordinal) && _failoverSince is null)
            {
                // E.g. a node killed while the others were still joining: only Up members count, so the dead one can
                // be half of them. The downed servers join again, and one resumes from the newest checkpoint.
                _failoverSince = DateTime.UtcNow;
                _failovers.Add($"the active server {_active.Name} downed by {node.Name}'s resolver ({downing.Groups[1].Value}) after round {_lastRound}");
            }
        }
        else if (line.Text.EndsWith("; joining again as a new member", StringComparison.Ordinal))
        {
            Say($"{node.Name}: {line.Text}");
        }
        else if (line.Text.StartsWith("Resumed from checkpoint", StringComparison.Ordinal))
        {
            OnResumed(node, line.Text);
        }
        else if (node.IsServer && ServerRound.Match(line.Text) is { Success: true } round)
        {
            OnRound(node, Int(round, 1), Int(round, 2), Int(round, 3));
        }
        else if (!node.IsServer && ClientRound.IsMatch(line.Text) && _clients[node.Index] == node
                 && _clientSlots.TryGetValue(node.Index, out var slot) && slot.State == SlotState.Recovering)
        {
            // It hears the run's reports again: it is back in the cluster, and the next fault may come. Its clients
            // must still be selected again, which the rounds show.
            Say(string.Create(CultureInfo.InvariantCulture,
                $"client-{slot.Node} is back in the cluster, {(DateTime.UtcNow - slot.Since).TotalSeconds:F1} s after it came back"));
            _rejoining[slot.Node] = slot.Since;
            _clientSlots.Remove(slot.Node);
        }
    }

    private static int Int(Match match, int group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    private void OnResumed(ChaosNode server, string text)
    {
        if (_failoverSince is { } since)
        {
            _failovers.Add(string.Create(CultureInfo.InvariantCulture, $"{(DateTime.UtcNow - since).TotalSeconds:F1} s to resume"));
        }
        Say($"{server.Name}: {text}");
        RestartKilledServer(server);
    }

    private void OnRound(ChaosNode server, int round, int participants, int selected)
    {
        var now = DateTime.UtcNow;
        if (_active != server)
        {
            if (_active is not null)
            {
                Say($"{server.Name} is the active server from round {round}");
            }
            _active = server;
            server.ActiveSinceRound ??= round - 1;
            RestartKilledServer(server);
        }
        if (round <= _lastRound)
        {
            // A round reported again (a failover redoing one): metrics.csv is what counts, and is checked at the end.
            Say($"{server.Name} reported round {round} again (after round {_lastRound})");
            return;
        }
        if (_lastRound > 0)
        {
            var gap = now - _lastProgress;
            var bound = ChaosInvariants.HangBound(_options.Deadline) + (_failoverSince is null ? TimeSpan.Zero : FailoverAllowance);
            if (gap > bound)
            {
                _invariants.Stalled(string.Create(CultureInfo.InvariantCulture,
                    $"{gap.TotalSeconds:F0} s between rounds {_lastRound} and {round}, beyond {bound.TotalSeconds:F0} s"));
            }
        }
        if (_failoverSince is { } since)
        {
            _failovers[^1] += string.Create(CultureInfo.InvariantCulture, $", {(now - since).TotalSeconds:F1} s to the next round");
            _failoverSince = null;
        }
        _lastRound = round;
        _lastProgress = now;
        int every = Math.Max(1, _options.Rounds / 20);
        if (round % every == 0)
        {
            Say($"round {round}/{_options.Rounds}: {participants}/{selected} clients");
        }
        if (_rejoining.Count > 0 && selected == _options.Clients)
        {
            Say($"every client is selected again in round {round}: " +
                string.Join(", ", _rejoining.Select(r => string.Create(CultureInfo.InvariantCulture, $"client-{r.Key} {(now - r.Value).TotalSeconds:F1} s after it came back"))));
            _rejoining.Clear();
        }
        if (_serverSlot is { State: SlotState.Paused } paused && now > paused.Since && _servers[paused.Server] is { PausedUntil: null })
        {
            _serverSlot = null;
        }
        if (round >= _options.Rounds)
        {
            BeginEnding();
            return;
        }
        foreach (var (node, atRound) in _restarts.Where(r => r.AtRound <= round + 1).ToArray())
        {
            _restarts.Remove((node, atRound));
            StartClient(node);
            _clientSlots[node] = new ClientSlot(node, SlotState.Recovering);
        }
        InjectDue(round + 1);
    }

    private void BeginEnding()
    {
        if (_phase != Phase.Running)
        {
            return;
        }
        _phase = Phase.Ending;
        _endedAt = DateTime.UtcNow;
        foreach (var node in _lives.Values.Where(n => n.PausedUntil is not null))
        {
            node.Resume();
        }
        Say($"round {_lastRound} done: waiting up to {ExitBound.TotalSeconds:F0} s for every node to exit");
        CheckAllExited();
    }

    private void OnExit(Exit exit)
    {
        var node = _lives[exit.Node];
        if (node.KilledBySoak)
        {
            return;
        }
        Say($"{node.Name} exited with {exit.Code}{(node.Ending is null ? "" : $" ({node.Ending})")}");
        if (_phase != Phase.Running)
        {
            CheckAllExited();
            return;
        }
        bool wasPaused = node.PausedUntil is not null || node.ResumedAt is { } resumed && DateTime.UtcNow - resumed < DownedAfterPause;
        if (wasPaused)
        {
            _downedAfterPause++;
            Say($"{node.Name} was downed by the cluster after its pause instead of rejoining: restarting it");
        }
        else
        {
            _invariants.Break($"{node.Name} exited with {exit.Code} in the middle of the run (after round {_lastRound}){(node.Ending is null ? "" : $": {node.Ending}")}");
        }
        if (node.IsServer)
        {
            if (_active == node)
            {
                _failoverSince = DateTime.UtcNow;
            }
            _serverSlot = new ServerSlot(node.Index, SlotState.Down);
            if (_active != node && Other(node) is { IsRunning: true })
            {
                RestartKilledServer(Other(node)!);
            }
        }
        else
        {
            StartClient(node.Index);
            _clientSlots[node.Index] = new ClientSlot(node.Index, SlotState.Recovering);
        }
    }

    private void CheckAllExited()
    {
        if (_lives.Values.All(n => !n.IsRunning))
        {
            Say(string.Create(CultureInfo.InvariantCulture, $"every node has exited, {(DateTime.UtcNow - _endedAt).TotalSeconds:F1} s after the last round"));
            _phase = Phase.Done;
        }
    }

    private void OnTick()
    {
        var now = DateTime.UtcNow;
        foreach (var node in _lives.Values.Where(n => n.PausedUntil is { } until && until <= now))
        {
            node.Resume();
            Say($"SIGCONT {node.Name} (pid {node.Pid})");
            if (!node.IsServer && _clients[node.Index] == node && _clientSlots.TryGetValue(node.Index, out var slot) && slot.State == SlotState.Paused)
            {
                (slot.State, slot.Since) = (SlotState.Recovering, now);
            }
            if (_serverSlot is { State: SlotState.Paused } server && _servers[server.Server] == node)
            {
                server.Since = now;
            }
        }
        // Sampled while the run goes on: shutting down is not the steady state.
        if (_phase == Phase.Running && now - _lastMemorySample > TimeSpan.FromSeconds(2))
        {
            _lastMemorySample = now;
            foreach (var node in _lives.Values.Where(n => n.IsRunning))
            {
                node.SampleMemory(_lastRound);
            }
        }
        switch (_phase)
        {
            case Phase.Running:
                var bound = _lastRound == 0
                    ? StartupBound
                    : ChaosInvariants.HangBound(_options.Deadline) + (_failoverSince is null ? TimeSpan.Zero : FailoverAllowance);
                if (now - _lastProgress > bound)
                {
                    _invariants.Stalled(string.Create(CultureInfo.InvariantCulture,
                        $"no round completed for {(now - _lastProgress).TotalSeconds:F0} s after round {_lastRound} (bound {bound.TotalSeconds:F0} s): the soak stops the run"));
                    _phase = Phase.Done;
                }
                foreach (var slot in _clientSlots.Values.Where(s => s.State == SlotState.Recovering && now - s.Since > RejoinBound).ToArray())
                {
                    _invariants.Break($"client-{slot.Node} was not back in the cluster within {RejoinBound.TotalSeconds:F0} s of its return (round {_lastRound})");
                    _clientSlots.Remove(slot.Node);
                }
                foreach (var (node, since) in _rejoining.Where(r => now - r.Value > RejoinBound).ToArray())
                {
                    _invariants.Break($"client-{node}'s clients were not all selected again within {RejoinBound.TotalSeconds:F0} s of its return (round {_lastRound})");
                    _rejoining.Remove(node);
                }
                if (_serverSlot is { State: SlotState.Down } down && now - down.Since > ServerRestart)
                {
                    // As a supervisor would: the standby has not taken over (the cluster may have downed it too, and
                    // only the first seed node can form a new cluster), so the killed server comes back anyway.
                    Say($"no server took over within {ServerRestart.TotalSeconds:F0} s of the kill: restarting server-{down.Server}");
                    StartServer(down.Server, _servers[down.Server]!.Incarnation + 1);
                    (down.State, down.Since) = (SlotState.Recovering, now);
                }
                if (_serverSlot is { State: SlotState.Recovering } standby && now - standby.Since > StandbyReady)
                {
                    _serverSlot = null;
                }
                break;
            case Phase.Ending when now - _endedAt > ExitBound:
                foreach (var node in _lives.Values.Where(n => n.IsRunning))
                {
                    _invariants.Break($"{node.Name} did not exit within {ExitBound.TotalSeconds:F0} s of the last round: killed");
                    node.Kill();
                }
                _phase = Phase.Done;
                break;
        }
    }

    // ---- Faults -----------------------------------------------------------------------------------------------

    /// <summary>Injects every scheduled fault whose round has come and that can be injected now; the others wait.</summary>
    private void InjectDue(int round)
    {
        while (_schedule.TryPeek(out var next) && next.Round <= round)
        {
            _due.Add(_schedule.Dequeue());
        }
        foreach (var scheduled in _due.ToArray())
        {
            if (round > _tailStart)
            {
                Say($"skipped, too close to the end: {scheduled} (round {round} is in flight)");
                _due.Remove(scheduled);
                continue;
            }
            string? waitingFor = TryInject(scheduled, round);
            if (waitingFor is null)
            {
                _due.Remove(scheduled);
            }
            else if (_waitingLogged.Add(scheduled))
            {
                Say($"waiting to inject {scheduled}: {waitingFor}");
            }
        }
    }

    /// <summary>Injects <paramref name="scheduled"/>, or says what it waits for.</summary>
    private string? TryInject(ChaosEvent scheduled, int round)
    {
        switch (scheduled.Fault)
        {
            case ChaosFault.ClientCrash:
            {
                if (ClusterShort(scheduled.Target.Index) is { } busy)
                {
                    return busy;
                }
                var node = _clients[scheduled.Target.Index];
                if (node is not { IsRunning: true, PausedUntil: null })
                {
                    return $"{scheduled.Target} is not running";
                }
                node.Kill();
                RejoinAfterThis();
                Count("client kill -9");
                Say($"round {round}: kill -9 {node.Name} (pid {node.Pid}, {node.Personality?.Name}); restart after round {round + scheduled.RestartAfter - 1}");
                _clientSlots[node.Index] = new ClientSlot(node.Index, SlotState.Down);
                _restarts.Add((node.Index, round + scheduled.RestartAfter));
                return null;
            }
            case ChaosFault.ServerCrash:
            {
                if (_serverSlot is not null || _active is null || Other(_active) is not { IsRunning: true, PausedUntil: null })
                {
                    return "both server nodes must be up, the standby for 30 s";
                }
                if (Out >= MaxOut)
                {
                    return $"{Out} nodes are out already";
                }
                var victim = _active;
                victim.Kill();
                _failoverSince = DateTime.UtcNow;
                _failovers.Add($"{victim.Name} killed in round {round}");
                Count("server kill -9");
                Say($"round {round}: kill -9 the active server {victim.Name} (pid {victim.Pid})");
                _serverSlot = new ServerSlot(victim.Index, SlotState.Down);
                return null;
            }
            case ChaosFault.Pause when scheduled.Target.Role == ChaosTargetRole.Client:
            {
                if (ClusterShort(scheduled.Target.Index) is { } busy)
                {
                    return busy;
                }
                var node = _clients[scheduled.Target.Index];
                if (node is not { IsRunning: true })
                {
                    return $"{scheduled.Target} is not running";
                }
                Pause(node, round);
                RejoinAfterThis();
                _clientSlots[node.Index] = new ClientSlot(node.Index, SlotState.Paused);
                return null;
            }
            case ChaosFault.Pause:
            {
                var node = Resolve(scheduled.Target);
                if (_serverSlot is not null || _failoverSince is not null || node is not { IsRunning: true } || Other(node) is not { IsRunning: true })
                {
                    return "both server nodes must be up";
                }
                if (Out >= MaxOut)
                {
                    return $"{Out} nodes are out already";
                }
                Pause(node, round);
                _serverSlot = new ServerSlot(node.Index, SlotState.Paused);
                return null;
            }
            default:
            {
                var node = Resolve(scheduled.Target);
                if (node is not { IsRunning: true, Port: { } port })
                {
                    return $"{scheduled.Target} is not running";
                }
                Count($"malformed: {scheduled.Malformed}");
                Say($"round {round}: {scheduled.Malformed} connection to {node.Name} (port {port})");
                var random = new Random(_random.Next());
                string name = node.Name;
                var insider = _insider;
                _traffic.Add(Task.Run(async () =>
                {
                    string result = await MalformedTraffic.SendAsync(scheduled.Malformed, port, random, insider, CancellationToken.None);
                    _signals.Writer.TryWrite(new Note($"{scheduled.Malformed} to {name}: {result}"));
                }));
                return null;
            }
        }
    }

    /// <summary>Nodes down, paused, or restarted and not yet back in the cluster.</summary>
    private int Out => _clientSlots.Count + (_serverSlot is null ? 0 : 1);

    /// <summary>The most nodes the soak takes out at once: fewer than half, so that the others stay a majority.</summary>
    private int MaxOut => (2 + _options.ClientNodes - 1) / 2;

    /// <summary>Why client node <paramref name="index"/> cannot take a fault now, or null when it can.</summary>
    private string? ClusterShort(int index) =>
        _clientSlots.ContainsKey(index) ? $"client-{index} is not back yet"
        : Out >= MaxOut ? $"{Out} nodes are out already ({string.Join(", ", _clientSlots.Keys.Select(k => $"client-{k}").Concat(_serverSlot is null ? [] : [$"server-{_serverSlot.Server}"]))})"
        : null;

    /// <summary>Nodes still rejoining cannot be seen whole before the node just taken down is back: their bound starts again.</summary>
    private void RejoinAfterThis()
    {
        foreach (var node in _rejoining.Keys.ToArray())
        {
            _rejoining[node] = DateTime.UtcNow;
        }
    }

    private ChaosNode? Resolve(ChaosTarget target) => target.Role switch
    {
        ChaosTargetRole.Client => _clients[target.Index],
        ChaosTargetRole.ActiveServer => _active,
        _ => _active is null ? null : Other(_active),
    };

    private void Pause(ChaosNode node, int round)
    {
        node.Pause(ChaosSchedule.PauseLength);
        Count(node.IsServer ? "server pause" : "client pause");
        Say($"round {round}: SIGSTOP {node.Name} (pid {node.Pid}{(node == _active ? ", the active server" : "")}) for {ChaosSchedule.PauseLength.TotalSeconds:F0} s");
    }

    /// <summary>Once the other server has taken over (it resumed, or reports rounds), the killed one comes back as the standby.</summary>
    private void RestartKilledServer(ChaosNode takenOver)
    {
        if (_serverSlot is not { State: SlotState.Down } slot || slot.Server == takenOver.Index || _phase != Phase.Running)
        {
            return;
        }
        var dead = _servers[slot.Server]!;
        StartServer(slot.Server, dead.Incarnation + 1);
        (slot.State, slot.Since) = (SlotState.Recovering, DateTime.UtcNow);
    }

    // ---- Invariants -------------------------------------------------------------------------------------------

    private int Check()
    {
        Say($"injected {_invariants.Faults} faults: {string.Join(", ", _injected.OrderBy(p => p.Key).Select(p => $"{p.Value} {p.Key}"))}");
        if (_downedAfterPause > 0)
        {
            Say($"{_downedAfterPause} paused nodes were downed by the cluster instead of rejoining, and were restarted");
        }
        foreach (var failover in _failovers)
        {
            Say($"failover: {failover}");
        }
        int notInjected = _due.Count + _schedule.Count;
        if (notInjected > 0)
        {
            Say($"{notInjected} scheduled faults were never injected (their nodes were not back before the end)");
        }

        string csv = Path.Combine(_options.Output, "metrics.csv");
        if (File.Exists(csv))
        {
            var rows = ChaosInvariants.ReadMetrics(csv);
            string jsonl = Path.Combine(_options.Output, "metrics.jsonl");
            var jsonRounds = File.Exists(jsonl)
                ? File.ReadLines(jsonl).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("round").GetInt32()).ToArray()
                : null;
            _invariants.CheckRounds(rows, _options.Rounds, jsonRounds);
            _invariants.CheckDurations(rows, _options.Deadline, simulated: false);
            // The Byzantine node hosts one attacker, and runs one life at a time.
            _invariants.CheckRejections(rows, 1, "the Byzantine node's one attacker");
            DescribeRounds(rows);
        }
        else
        {
            _invariants.CheckRounds(Array.Empty<RoundRow>(), _options.Rounds);
            _invariants.Break($"no metrics.csv in {_options.Output}");
        }

        var checkpoint = new CheckpointStore(_checkpoints).LoadLatest(problem => Say(problem));
        if (checkpoint is not null && checkpoint.State.Round != _options.Rounds + 1)
        {
            _invariants.Break($"the newest checkpoint is of round {checkpoint.State.Round - 1}, not {_options.Rounds}");
        }
        _invariants.CheckModel(checkpoint?.State.Weights, checkpoint is null ? $"no checkpoint in {_checkpoints}" : "the newest checkpoint");
        if (!File.Exists(Path.Combine(_options.Output, "model.pt")))
        {
            _invariants.Break($"no model.pt in {_options.Output}");
        }

        foreach (var node in _servers.Concat(_clients).OfType<ChaosNode>())
        {
            int code = node.Exited.IsCompleted ? node.Exited.Result : int.MinValue;
            if (node.KilledBySoak || code != 0)
            {
                if (!node.KilledBySoak)
                {
                    _invariants.Break($"{node.Name} exited with {code} at the end{(node.Ending is null ? "" : $" ({node.Ending})")}");
                }
            }
            else if (node.Ending != $"run finished after round {_options.Rounds}")
            {
                _invariants.Break($"{node.Name} exited 0 without reporting the end of round {_options.Rounds} ({node.Ending ?? "nothing"})");
            }
        }
        if (_restarts.Count > 0)
        {
            Say($"{_restarts.Count} client nodes killed late in the run were not restarted before it ended");
        }

        File.WriteAllLines(Path.Combine(_options.Output, "memory.csv"), _lives.Values
            .SelectMany(n => n.Memory.Select(m => string.Create(CultureInfo.InvariantCulture,
                $"{n.Name},{(m.At - n.StartedAt).TotalSeconds:F1},{m.AfterRound},{m.Kb}")))
            .Prepend("node,seconds,after_round,rss_kb"));
        _invariants.CheckMemory(MemoryFigures(), _log, judge: !_options.Quick);
        return _invariants.Report(_log);
    }

    private void DescribeRounds(IReadOnlyList<RoundRow> rows)
    {
        long asked = rows.Sum(r => (long)r.Selected);
        long possible = (long)rows.Count * _options.Clients;
        string Share(long count, long of) => of == 0 ? "0" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * count / of:F1}%");
        Say($"rounds: {rows.Count(r => !r.Succeeded)} failed; client-rounds left out (node dead, paused or unreachable): " +
            $"{Share(possible - asked, possible)}; of {asked} asked: {Share(rows.Sum(r => (long)r.Stragglers), asked)} stragglers " +
            $"(after the deadline or never), {Share(rows.Sum(r => (long)r.Rejected), asked)} rejected, {Share(rows.Sum(r => (long)r.Failed), asked)} failed; " +
            $"{rows.Sum(r => r.Late)} late answers; longest round {rows.Max(r => r.WallSeconds):F1} s by wall_seconds");
    }

    /// <summary>
    /// Memory of every node that lived through the whole run (its first life, never killed or restarted): the median
    /// resident memory over rounds 10%-20% against the median over the last 10% (<see cref="MemoryFigure.Of"/>). A server
    /// that became the active one later is measured from 10% of the rounds after it took over, since taking over loads
    /// the model and the test set.
    /// </summary>
    private IReadOnlyList<MemoryFigure> MemoryFigures()
    {
        var figures = new List<MemoryFigure>();
        foreach (var node in _servers.Concat(_clients).OfType<ChaosNode>().Where(n => n.Incarnation == 0 && !n.KilledBySoak))
        {
            int from = node.ActiveSinceRound is { } since && since > 0 ? since : 0;
            var figure = MemoryFigure.Of(node.Name, node.Memory.Select(m => (m.AfterRound, m.Kb)).ToArray(), _options.Rounds, from);
            if (figure is null)
            {
                Say($"memory of {node.Name}: too few samples after round {from} to judge ({node.Memory.Count} in all)");
                continue;
            }
            figures.Add(figure);
        }
        if (figures.Count == 0 && !_options.Quick)
        {
            _invariants.Break("no node lived through the whole run with enough memory samples: memory could not be checked");
        }
        return figures;
    }
}

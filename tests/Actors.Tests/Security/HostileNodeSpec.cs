using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Security;

/// <summary>The model of a federation that no attacker touched, trained once for every test of the class.</summary>
public sealed class UntouchedRun
{
    private readonly Lazy<float[]> _model = new(() =>
    {
        using var federation = new SecureFederation();
        return federation.Run().Model;
    });

    public float[] Model => _model.Value;
}

/// <summary>
/// Every attack of issue 12's list, by a node that holds a certificate of the deployment's own CA (an insider: a
/// stranger cannot even connect, see <see cref="TlsClusterSpec"/>), against a federation on mutual TLS. Each asserts
/// that the attack failed and that the run ended with exactly the model of a run without the attacker.
/// </summary>
[Trait("Category", "Security")]
public sealed class HostileNodeSpec : IClassFixture<UntouchedRun>
{
    private readonly UntouchedRun _untouched;

    public HostileNodeSpec(UntouchedRun untouched)
    {
        _untouched = untouched;
    }

    private static IEnumerable<string> HonestIds => Enumerable.Range(0, SecureFederation.HonestClients).Select(SecureFederation.HonestId);

    private void AssertUntouched(SecureFederation.Outcome outcome, int selected = SecureFederation.HonestClients)
    {
        Assert.Null(outcome.Ended.Failure);
        Assert.Equal(SecureFederation.Rounds, outcome.Ended.LastRound);
        Assert.Equal(SecureFederation.Rounds, outcome.Rounds.Count);
        Assert.All(outcome.Rounds, round =>
        {
            Assert.True(round.Succeeded, round.FailureReason);
            Assert.Equal(selected, round.Selected);
            Assert.Equal(SecureFederation.HonestClients, round.Participants);
        });
        Assert.Equal(_untouched.Model, outcome.Model);
        // The client node heard one end of the run, the real one.
        Assert.All(outcome.ClientNodeHeard.OfType<RunEvents.Ended>(), ended => Assert.Null(ended.Failure));
    }

    /// <summary>Sends every message of <paramref name="batch"/> to its path every 100 ms, and keeps whatever comes back.</summary>
    private sealed class Spammer : ReceiveActor, IWithTimers
    {
        public Spammer(Func<IReadOnlyList<(string Path, object Message)>> batch, ConcurrentQueue<object> received)
        {
            Receive<string>(s => s == "tick", _ =>
            {
                var provider = ((ExtendedActorSystem)Context.System).Provider;
                var transfer = AkkaFed.Actors.Serialization.FederationTransport.Get(Context.System);
                foreach (var (path, message) in batch())
                {
                    if (message is IFederationMessage federation)
                    {
                        // Through the transport, as a node sends: weights are larger than one frame.
                        transfer.Tell(provider.ResolveActorRef(ActorPath.Parse(path)), federation, Self);
                    }
                    else
                    {
                        Context.ActorSelection(path).Tell(message, Self);
                    }
                }
            });
            ReceiveAny(received.Enqueue);
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("tick", "tick", TimeSpan.Zero, TimeSpan.FromMilliseconds(100));

        public static Props Props(Func<IReadOnlyList<(string Path, object Message)>> batch, ConcurrentQueue<object> received) =>
            Akka.Actor.Props.Create(() => new Spammer(batch, received));
    }

    private static ActorSystem Mallory(SecureFederation federation, string role = ClusterFederation.ClientRole) =>
        federation.Node(role, federation.Deployment.Credentials(SecureFederation.Mallory));

    private static ConcurrentQueue<object> Spam(ActorSystem node, Func<IReadOnlyList<(string Path, object Message)>> batch)
    {
        var received = new ConcurrentQueue<object>();
        node.ActorOf(Spammer.Props(batch, received), "spammer");
        return received;
    }

    [Fact]
    public void A_member_that_claims_the_server_role_with_a_client_certificate_is_downed_and_never_serves()
    {
        ActorSystem? impostor = null;
        var outcome = new SecureFederation().Use(f => f.Run(attack: f =>
        {
            impostor = Mallory(f, ClusterFederation.ServerRole);
            // Had it been the singleton's node, clients would have registered with it.
            Assert.True(impostor.WhenTerminated.Wait(TimeSpan.FromMinutes(2)), "the impostor was not downed");
        }));
        AssertUntouched(outcome);
    }

    [Fact]
    public void A_forged_end_of_the_run_stops_no_node()
    {
        var outcome = new SecureFederation().Use(f => f.Run(attack: f =>
        {
            var mallory = Mallory(f);
            var forged = new RunEvents.Ended(0, "forged end");
            var mediator = DistributedPubSub.Get(mallory).Mediator;
            Spam(mallory, () =>
            {
                // On the topic, through its own node; to the client node's mediator, which hands it to the node's subscribers
                // at once; and to every client.
                mediator.Tell(new Publish(RunEvents.Topic, forged));
                return f.Clients is null
                    ? []
                    : Enumerable.Range(0, SecureFederation.HonestClients).Select(k => (f.ClientPath(k), (object)forged))
                        .Append(($"{Cluster.Get(f.Clients).SelfAddress}/system/distributedPubSubMediator", new Publish(RunEvents.Topic, forged)))
                        .ToArray();
            });
        }));
        AssertUntouched(outcome);
    }

    [Fact]
    public void Forged_failures_in_every_clients_name_fail_no_round()
    {
        var outcome = new SecureFederation().Use(f => f.Run(attack: f => Spam(Mallory(f), () =>
            (from round in Enumerable.Range(1, SecureFederation.Rounds)
             from id in HonestIds
             select (f.ServerPath, (object)new FitFailed(round, id, "forged"))).ToArray())));
        AssertUntouched(outcome);
    }

    [Fact]
    public void A_client_id_of_another_node_cannot_be_registered()
    {
        ConcurrentQueue<object>? answers = null;
        var outcome = new SecureFederation().Use(f => f.Run(attack: f => answers = Spam(Mallory(f), () =>
            HonestIds.Select(id => (f.ServerPath, (object)new RegisterClient(id, 50))).ToArray())));
        AssertUntouched(outcome);
        Assert.DoesNotContain(answers!, a => a is ClientRegistered);
        Assert.DoesNotContain(answers!, a => a is FitRequest);
    }

    [Fact]
    public void One_actor_speaks_for_one_client_id_only()
    {
        ConcurrentQueue<object>? answers = null;
        // The attacker's first id is one it may host: it is registered, is selected, and fails every round.
        var outcome = new SecureFederation().Use(f => f.Run(waitForClients: SecureFederation.HonestClients + 1, attack: f =>
        {
            var mallory = Mallory(f);
            answers = new ConcurrentQueue<object>();
            mallory.ActorOf(Props.Create(() => new Sybil(f.ServerPath, answers)), "sybil");
        }));
        AssertUntouched(outcome, selected: SecureFederation.HonestClients + 1);
        Assert.Equal(["mallory-0"], answers!.OfType<ClientRegistered>().Select(r => r.ClientId).Distinct());
    }

    /// <summary>Registers 50 ids of its own from one actor, and fails every round it is asked to train.</summary>
    private sealed class Sybil : ReceiveActor, IWithTimers
    {
        public Sybil(string server, ConcurrentQueue<object> answers)
        {
            Receive<string>(_ =>
            {
                for (int k = 0; k < 50; k++)
                {
                    Context.ActorSelection(server).Tell(new RegisterClient($"mallory-{k}", 50));
                }
            });
            Receive<FitRequest>(request =>
            {
                answers.Enqueue(request);
                Sender.Tell(new FitFailed(request.Round, "mallory-0", "sybil"));
            });
            ReceiveAny(answers.Enqueue);
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("register", "register", TimeSpan.Zero, TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void A_client_that_claims_more_examples_than_it_declared_does_not_outweigh_the_others()
    {
        ConcurrentQueue<object>? answers = null;
        var outcome = new SecureFederation().Use(f => f.Run(waitForClients: SecureFederation.HonestClients + 1, attack: f =>
        {
            answers = new ConcurrentQueue<object>();
            Mallory(f).ActorOf(Props.Create(() => new Heavyweight(f.ServerPath, answers)), "heavy");
        }));
        AssertUntouched(outcome, selected: SecureFederation.HonestClients + 1);
        Assert.All(outcome.Rounds, round => Assert.Equal(1, round.Rejected));
        // Its claim of int.MaxValue samples at registration was refused: only its honest-looking id was admitted.
        Assert.Equal(["mallory-1"], answers!.OfType<ClientRegistered>().Select(r => r.ClientId).Distinct());
    }

    /// <summary>Registers once claiming int.MaxValue samples, once claiming 50, then answers with a huge update "of int.MaxValue samples".</summary>
    private sealed class Heavyweight : ReceiveActor, IWithTimers
    {
        public Heavyweight(string server, ConcurrentQueue<object> answers)
        {
            var registered = false;
            Receive<string>(_ =>
            {
                Context.ActorSelection(server).Tell(new RegisterClient("mallory-0", int.MaxValue));
                if (!registered)
                {
                    Context.ActorSelection(server).Tell(new RegisterClient("mallory-1", 50));
                }
            });
            Receive<ClientRegistered>(ack =>
            {
                registered |= ack.ClientId == "mallory-1";
                answers.Enqueue(ack);
            });
            Receive<FitRequest>(request =>
            {
                var delta = Enumerable.Repeat(0.5f, request.Weights.Length).ToArray();
                // Through the transport, as a client sends: an update is larger than one frame.
                AkkaFed.Actors.Serialization.FederationTransport.Get(Context.System).Tell(Sender, new FitResult(request.Round, "mallory-1", delta, int.MaxValue, 0.1, 0.9), Self);
            });
            ReceiveAny(answers.Enqueue);
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("register", "register", TimeSpan.Zero, TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void Clients_answer_no_request_from_anyone_but_their_server()
    {
        ConcurrentQueue<object>? answers = null;
        var outcome = new SecureFederation().Use(f => f.Run(attack: f => answers = Spam(Mallory(f), () =>
        {
            if (f.Clients is null)
            {
                return [];
            }
            var weights = new float[54_410];
            return Enumerable.Range(0, SecureFederation.HonestClients).SelectMany(k => new (string, object)[]
            {
                (f.ClientPath(k), new FitRequest(1, weights, new LocalTrainingOptions(1, 10, 0.05), 7)),
                (f.ClientPath(k), new EvaluateRequest(1, weights)),
            }).ToArray();
        })));
        AssertUntouched(outcome);
        Assert.DoesNotContain(answers!, a => a is FitResult or FitFailed or EvaluateResult or EvaluateFailed);
    }

    [Fact]
    public void Hostile_training_options_pin_no_training_thread()
    {
        // The client node trains on one thread: a batch size of 0 (an endless loop) or a billion epochs would stall the run.
        var outcome = new SecureFederation().Use(f => f.Run(attack: f => Spam(Mallory(f), () =>
        {
            if (f.Clients is null)
            {
                return [];
            }
            var weights = new float[54_410];
            return Enumerable.Range(0, SecureFederation.HonestClients).SelectMany(k => new (string, object)[]
            {
                (f.ClientPath(k), new ClientRegistered(SecureFederation.HonestId(k))),
                (f.ClientPath(k), new FitRequest(1, weights, new LocalTrainingOptions(1, 0, 0.05), 7)),
                (f.ClientPath(k), new FitRequest(1, weights, new LocalTrainingOptions(1_000_000_000, 10, 0.05), 7)),
            }).ToArray();
        })));
        AssertUntouched(outcome);
    }

    [Fact]
    public void A_forged_registration_acknowledgement_cuts_no_client_off()
    {
        // Before the clients reach the server, the attacker acknowledges their registrations in its own name, and then
        // tells them the run is over: a client that took the acknowledgement would stop registering and believe the end.
        var outcome = new SecureFederation().Use(f => f.Run(attack: f => Spam(Mallory(f), () =>
            f.Clients is null
                ? []
                : Enumerable.Range(0, SecureFederation.HonestClients).SelectMany(k => new (string, object)[]
                {
                    (f.ClientPath(k), new ClientRegistered(SecureFederation.HonestId(k))),
                    (f.ClientPath(k), new RunEvents.Ended(0, "forged end")),
                }).ToArray())));
        AssertUntouched(outcome);
    }

    [Fact]
    public void The_comparison_sees_an_update_that_the_server_accepted()
    {
        // The control: an attacker client the server admits (its own id, honest numbers) changes the model.
        var outcome = new SecureFederation().Use(f => f.Run(waitForClients: SecureFederation.HonestClients + 1, attack: f =>
            Mallory(f).ActorOf(Props.Create(() => new Contributor(f.ServerPath)), "contributor")));
        Assert.Null(outcome.Ended.Failure);
        Assert.All(outcome.Rounds, round => Assert.Equal(SecureFederation.HonestClients + 1, round.Participants));
        Assert.NotEqual(_untouched.Model, outcome.Model);
    }

    /// <summary>A client of the attacker's own that sends small updates within every bound.</summary>
    private sealed class Contributor : ReceiveActor, IWithTimers
    {
        public Contributor(string server)
        {
            var registered = false;
            Receive<string>(_ =>
            {
                if (!registered)
                {
                    Context.ActorSelection(server).Tell(new RegisterClient("mallory-0", 50));
                }
            });
            Receive<ClientRegistered>(_ => registered = true);
            Receive<FitRequest>(request => AkkaFed.Actors.Serialization.FederationTransport.Get(Context.System).Tell(Sender,
                new FitResult(request.Round, "mallory-0", Enumerable.Repeat(1e-3f, request.Weights.Length).ToArray(), 50, 1.0, 0.5), Self));
            ReceiveAny(_ => { });
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("register", "register", TimeSpan.Zero, TimeSpan.FromMilliseconds(500));
    }
}

internal static class DisposableExtensions
{
    public static TResult Use<T, TResult>(this T resource, Func<T, TResult> use) where T : IDisposable
    {
        using (resource)
        {
            return use(resource);
        }
    }
}

using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class AttackTests
{
    private static readonly string[] Clients = Enumerable.Range(0, 1000).Select(i => $"client-{i:D5}").ToArray();

    [Fact]
    public void A_fixed_share_of_clients_attack_in_every_round()
    {
        var attack = new Attack(AttackKind.SignFlip, Fraction: 0.2, Seed: 3);

        var attackers = Clients.Where(attack.IsAttacker).ToArray();

        Assert.InRange(attackers.Length, 160, 240);
        Assert.Equal(attackers, Clients.Where(new Attack(AttackKind.Scale, 0.2, Seed: 3).IsAttacker));
        Assert.NotEqual(attackers, Clients.Where(new Attack(AttackKind.SignFlip, 0.2, Seed: 4).IsAttacker));
    }

    [Fact]
    public void Sign_flip_and_scale_corrupt_exactly_and_honest_clients_send_their_own_update()
    {
        var delta = new[] { 1f, -2f, 0.5f };
        string attacker = Clients.First(new Attack(AttackKind.SignFlip, 0.5, 2, Seed: 1).IsAttacker);
        string honest = Clients.First(id => !new Attack(AttackKind.SignFlip, 0.5, 2, Seed: 1).IsAttacker(id));

        Assert.Equal(new[] { -2f, 4f, -1f }, new Attack(AttackKind.SignFlip, 0.5, 2, Seed: 1).Corrupt(delta, attacker, 1));
        Assert.Equal(new[] { 2f, -4f, 1f }, new Attack(AttackKind.Scale, 0.5, 2, Seed: 1).Corrupt(delta, attacker, 1));
        Assert.Same(delta, new Attack(AttackKind.SignFlip, 0.5, 2, Seed: 1).Corrupt(delta, honest, 1));
        Assert.Same(delta, Attack.None.Corrupt(delta, attacker, 1));
    }

    [Fact]
    public void Random_updates_have_the_configured_spread_and_follow_the_seed()
    {
        var attack = new Attack(AttackKind.Random, 1.0, Scale: 3, Seed: 5);
        var delta = new float[20_000];

        var sent = attack.Corrupt(delta, "c", round: 2);

        double sd = Math.Sqrt(sent.Average(v => (double)v * v));
        Assert.InRange(sd, 2.9, 3.1);
        Assert.Equal(sent, attack.Corrupt(delta, "c", round: 2));
        Assert.NotEqual(sent, attack.Corrupt(delta, "c", round: 3));
    }

    [Fact]
    public void A_nan_attacker_sends_only_nan_and_the_round_refuses_it_as_the_answer_of_that_client()
    {
        var attack = new Attack(Attack.Names["nan"], 0.5, Seed: 1);
        string attacker = Clients.First(attack.IsAttacker);
        string honest = Clients.First(id => !attack.IsAttacker(id));
        var delta = new[] { 1f, -2f };

        var sent = attack.Corrupt(delta, attacker, round: 4);
        var round = Round.Open(4, new[] { attacker, honest }, modelLength: 2, available: 2, Round.None);
        (round, var verdict) = round.Train(4, new ClientUpdate(attacker, sent, 10, 0.5, 0.5), fromOwner: true);

        Assert.Equal(AttackKind.Nan, attack.Kind);
        Assert.All(sent, value => Assert.True(float.IsNaN(value)));
        Assert.Equal(new[] { 1f, -2f }, delta);
        Assert.Same(delta, attack.Corrupt(delta, honest, round: 4));
        Assert.Equal(Verdict.Rejected, verdict);
        Assert.Equal(1, round.Book.Rejected);
        // Refused, it is still that client's answer: the round waits only for the honest one.
        Assert.Equal(1, round.Book.Missing);
        Assert.Same(attack, attack.Validate());
    }
}

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
}

namespace AkkaFed.Model.Federation;

/// <summary>How a misbehaving client corrupts its update, for experiments with robust aggregation.</summary>
public enum AttackKind
{
    None,

    /// <summary>Sends <c>-scale * delta</c>: pushes the model the wrong way.</summary>
    SignFlip,

    /// <summary>Sends <c>scale * delta</c>: an outsized update.</summary>
    Scale,

    /// <summary>Sends Gaussian noise of standard deviation <c>scale</c> instead of its update.</summary>
    Random,

    /// <summary>Sends an update full of NaN, as a client whose training diverged would: the server must refuse it.</summary>
    Nan,
}

/// <summary>
/// Misbehaving clients by configuration: a fixed share of the clients (chosen by seed and client id, the
/// same in every round, as real attackers would be) corrupt every update they send.
/// </summary>
public sealed record Attack(AttackKind Kind = AttackKind.None, double Fraction = 0, double Scale = 1, int Seed = 0)
{
    public static readonly Attack None = new();

    public static readonly IReadOnlyDictionary<string, AttackKind> Names = new Dictionary<string, AttackKind>
    {
        ["none"] = AttackKind.None,
        ["sign-flip"] = AttackKind.SignFlip,
        ["scale"] = AttackKind.Scale,
        ["random"] = AttackKind.Random,
        ["nan"] = AttackKind.Nan,
    };

    /// <summary>Throws a <see cref="SettingsException"/> naming the first setting that is out of range.</summary>
    public Attack Validate()
    {
        if (!Enum.IsDefined(Kind))
            throw new SettingsException("attack", $"must be one of {string.Join(", ", Names.Keys)}, got {Kind}");
        if (!(Fraction >= 0 && Fraction <= 1))
            throw new SettingsException("attack-fraction", $"must be in [0, 1], got {Fraction}");
        if (!double.IsFinite(Scale))
            throw new SettingsException("attack-scale", $"must be a finite number, got {Scale}");
        return this;
    }

    public bool IsAttacker(string clientId) =>
        Kind != AttackKind.None && Fraction > 0 && StableSeed.Uniform(Seed, 0, $"attacker:{clientId}") < Fraction;

    /// <summary>The update <paramref name="clientId"/> sends in <paramref name="round"/> in place of <paramref name="delta"/>.</summary>
    public float[] Corrupt(float[] delta, string clientId, int round)
    {
        if (!IsAttacker(clientId))
        {
            return delta;
        }
        var sent = new float[delta.Length];
        switch (Kind)
        {
            case AttackKind.SignFlip:
                for (int i = 0; i < delta.Length; i++)
                {
                    sent[i] = (float)(-Scale * delta[i]);
                }
                break;
            case AttackKind.Scale:
                for (int i = 0; i < delta.Length; i++)
                {
                    sent[i] = (float)(Scale * delta[i]);
                }
                break;
            case AttackKind.Random:
                var random = new Random(StableSeed.Mix(Seed, round, $"attack:{clientId}"));
                for (int i = 0; i < delta.Length; i++)
                {
                    // Box-Muller: one normal draw per element.
                    double u = 1.0 - random.NextDouble();
                    double v = random.NextDouble();
                    sent[i] = (float)(Scale * Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
                }
                break;
            case AttackKind.Nan:
                Array.Fill(sent, float.NaN);
                break;
        }
        return sent;
    }
}

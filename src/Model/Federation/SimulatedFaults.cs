namespace AkkaFed.Model.Federation;

public enum FaultKind
{
    None,
    Straggle,
    Drop,
}

/// <summary>
/// Simulated stragglers and dropouts, so the deadline path can be seen in a real run: in each round a
/// fraction of clients replies late by <see cref="StragglerDelay"/>, and a fraction never replies.
/// Who is affected is a pure function of seed, round and client id.
/// </summary>
public sealed record SimulatedFaults(double StragglerFraction = 0, TimeSpan StragglerDelay = default, double DropoutFraction = 0, int Seed = 0)
{
    public static readonly SimulatedFaults None = new();

    /// <summary>Throws a <see cref="SettingsException"/> naming the first setting that is out of range.</summary>
    public SimulatedFaults Validate()
    {
        if (!(StragglerFraction >= 0 && StragglerFraction <= 1))
            throw new SettingsException("straggler-fraction", $"must be in [0, 1], got {StragglerFraction}");
        if (!(DropoutFraction >= 0 && DropoutFraction <= 1))
            throw new SettingsException("dropout-fraction", $"must be in [0, 1], got {DropoutFraction}");
        if (StragglerFraction + DropoutFraction > 1)
            throw new SettingsException("dropout-fraction",
                $"straggler-fraction + dropout-fraction must be at most 1, got {StragglerFraction} + {DropoutFraction} = {StragglerFraction + DropoutFraction}");
        if (StragglerDelay < TimeSpan.Zero)
            throw new SettingsException("straggler-delay", $"must be zero or more, got {StragglerDelay.TotalSeconds}s");
        return this;
    }

    public FaultKind For(int round, string clientId)
    {
        if (StragglerFraction <= 0 && DropoutFraction <= 0)
        {
            return FaultKind.None;
        }
        double draw = StableSeed.Uniform(Seed, round, clientId);
        if (draw < DropoutFraction)
        {
            return FaultKind.Drop;
        }
        return draw < DropoutFraction + StragglerFraction ? FaultKind.Straggle : FaultKind.None;
    }
}

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

namespace AkkaFed.Model.Federation;

/// <summary>
/// What a server optimizer carries from one round to the next, as plain float arrays so a checkpoint can
/// store it beside the weights: no slots for SGD, <c>[momentum]</c> for FedAvgM, <c>[m, v]</c> for the
/// adaptive optimizers. <see cref="IServerOptimizer.Step"/> never writes into a state's arrays; it returns
/// new ones, so a state once handed out stays valid.
/// </summary>
public sealed record ServerOptimizerState(float[][] Slots)
{
    public static ServerOptimizerState Empty { get; } = new(Array.Empty<float[]>());
}

/// <summary>
/// One server step on the round's mean client delta, as a pure function of (weights, delta, state).
/// Like TFF, <c>-delta</c> is the pseudo-gradient, so every optimizer moves the weights along <c>+delta</c>.
/// </summary>
public interface IServerOptimizer
{
    /// <summary>The name <see cref="ServerOptimizers.Create"/> knows it by.</summary>
    string Name { get; }

    /// <summary>The state before the first round, for a model of <paramref name="parameters"/> values.</summary>
    ServerOptimizerState Initial(int parameters);

    /// <summary>New weights and new state; reads its inputs, never writes them.</summary>
    (float[] Weights, ServerOptimizerState State) Step(
        ReadOnlySpan<float> global, ReadOnlySpan<float> meanDelta, ServerOptimizerState state);
}

/// <summary>Builds a server optimizer by name from the settings the command line and HOCON carry.</summary>
public static class ServerOptimizers
{
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(new[]
    {
        ServerSgd.Key, ServerMomentum.Key, FedAdagrad.Key, FedAdam.Key, FedYogi.Key,
    });

    /// <summary>
    /// The optimizer called <paramref name="name"/>. Each one validates only the settings it uses:
    /// SGD ignores momentum, the betas and tau; FedAvgM ignores the betas and tau; FedAdagrad ignores beta2.
    /// </summary>
    public static IServerOptimizer Create(string name, double learningRate, double momentum,
        double beta1, double beta2, double tau)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name switch
        {
            ServerSgd.Key => new ServerSgd(learningRate),
            ServerMomentum.Key => new ServerMomentum(learningRate, momentum),
            FedAdagrad.Key => new FedAdagrad(learningRate, beta1, tau),
            FedAdam.Key => new FedAdam(learningRate, beta1, beta2, tau),
            FedYogi.Key => new FedYogi(learningRate, beta1, beta2, tau),
            _ => throw new ArgumentException(
                $"unknown server optimizer '{name}'; valid names: {string.Join(", ", Names)}", nameof(name)),
        };
    }

    internal static double LearningRate(double value, string paramName)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"server-lr must be a finite number > 0, got {value}");
        }
        return value;
    }

    /// <summary>Momentum and the betas: a decay in [0, 1); at 1 the average never forgets.</summary>
    internal static double Decay(double value, string setting, string paramName)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"{setting} must be in [0, 1), got {value}");
        }
        return value;
    }

    internal static double Tau(double value, string paramName)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"server-tau must be a finite number > 0, got {value}");
        }
        return value;
    }

    /// <summary>Refuses a delta of the wrong length, or a state saved by another optimizer or for another model.</summary>
    internal static void CheckShapes(string optimizer, int slots, ReadOnlySpan<float> global,
        ReadOnlySpan<float> meanDelta, ServerOptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (global.Length != meanDelta.Length)
        {
            throw new ArgumentException($"global has {global.Length} values, delta {meanDelta.Length}", nameof(meanDelta));
        }
        if (state.Slots.Length != slots)
        {
            throw new ArgumentException(
                $"{optimizer} keeps {slots} state slots, this state has {state.Slots.Length}", nameof(state));
        }
        for (int s = 0; s < slots; s++)
        {
            if (state.Slots[s].Length != global.Length)
            {
                throw new ArgumentException(
                    $"state slot {s} has {state.Slots[s].Length} values, global {global.Length}", nameof(state));
            }
        }
    }
}

/// <summary>Server SGD, <c>w + lr * delta</c>: exactly <see cref="FederatedAveraging.ApplyServerSgd"/>, no state.</summary>
public sealed class ServerSgd : IServerOptimizer
{
    public const string Key = "sgd";

    public ServerSgd(double learningRate)
    {
        LearningRate = ServerOptimizers.LearningRate(learningRate, nameof(learningRate));
    }

    public double LearningRate { get; }

    public string Name => Key;

    public ServerOptimizerState Initial(int parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(parameters);
        return ServerOptimizerState.Empty;
    }

    public (float[] Weights, ServerOptimizerState State) Step(
        ReadOnlySpan<float> global, ReadOnlySpan<float> meanDelta, ServerOptimizerState state)
    {
        ServerOptimizers.CheckShapes(Key, 0, global, meanDelta, state);
        return (FederatedAveraging.ApplyServerSgd(global, meanDelta, LearningRate), ServerOptimizerState.Empty);
    }
}

/// <summary>
/// FedAvgM (Hsu et al. 2019) as Flower's <c>FedAvgM</c>: <c>v = momentum * v + delta; w = w + lr * v</c>.
/// The buffer starts at zero, so the first step has <c>v = delta</c>, Flower's round-1 convention.
/// </summary>
public sealed class ServerMomentum : IServerOptimizer
{
    public const string Key = "fedavgm";

    private readonly float _momentum;

    public ServerMomentum(double learningRate, double momentum)
    {
        LearningRate = ServerOptimizers.LearningRate(learningRate, nameof(learningRate));
        Momentum = ServerOptimizers.Decay(momentum, "server-momentum", nameof(momentum));
        _momentum = (float)momentum;
    }

    public double LearningRate { get; }

    public double Momentum { get; }

    public string Name => Key;

    public ServerOptimizerState Initial(int parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(parameters);
        return new ServerOptimizerState(new[] { new float[parameters] });
    }

    public (float[] Weights, ServerOptimizerState State) Step(
        ReadOnlySpan<float> global, ReadOnlySpan<float> meanDelta, ServerOptimizerState state)
    {
        ServerOptimizers.CheckShapes(Key, 1, global, meanDelta, state);
        var previous = state.Slots[0];
        var velocity = new float[meanDelta.Length];
        if (_momentum == 0)
        {
            // Flower skips the buffer at momentum 0; copying delta (rather than 0 * v + delta, which turns
            // -0 into +0) keeps this step bit-identical to server SGD.
            meanDelta.CopyTo(velocity);
        }
        else
        {
            for (int i = 0; i < velocity.Length; i++)
            {
                velocity[i] = _momentum * previous[i] + meanDelta[i];
            }
        }
        // The same float operations as server SGD, on v instead of delta.
        var weights = FederatedAveraging.ApplyServerSgd(global, velocity, LearningRate);
        return (weights, new ServerOptimizerState(new[] { velocity }));
    }
}

/// <summary>
/// The adaptive server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2:
/// <c>m = beta1 * m + (1 - beta1) * delta</c>, an optimizer-specific <c>v</c>, then
/// <c>w = w + eta * m / (sqrt(v) + tau)</c>, without bias correction.
/// State is <c>[m, v]</c> with <c>m = 0</c> and <c>v = tau^2</c> at the start, the paper's
/// <c>v_{-1} &gt;= tau^2</c> at its least. Flower starts <c>v</c> at 0 instead; the two differ only while
/// <c>tau^2</c> is not negligible against <c>delta^2</c>.
/// Arithmetic is in float, in the same order as Flower's numpy expressions.
/// </summary>
public abstract class AdaptiveServerOptimizer : IServerOptimizer
{
    private readonly float _eta;
    private readonly float _beta1;
    private readonly float _oneMinusBeta1;
    private readonly float _tau;

    private protected AdaptiveServerOptimizer(double learningRate, double beta1, double tau)
    {
        LearningRate = ServerOptimizers.LearningRate(learningRate, nameof(learningRate));
        Beta1 = ServerOptimizers.Decay(beta1, "server-beta1", nameof(beta1));
        Tau = ServerOptimizers.Tau(tau, nameof(tau));
        _eta = (float)learningRate;
        _beta1 = (float)beta1;
        _oneMinusBeta1 = (float)(1 - beta1);
        _tau = (float)tau;
    }

    /// <summary>The server learning rate, eta in the paper.</summary>
    public double LearningRate { get; }

    public double Beta1 { get; }

    /// <summary>The adaptivity: the floor under the denominator, and <c>sqrt</c> of the initial <c>v</c>.</summary>
    public double Tau { get; }

    public abstract string Name { get; }

    public ServerOptimizerState Initial(int parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(parameters);
        var v = new float[parameters];
        Array.Fill(v, (float)(Tau * Tau));
        return new ServerOptimizerState(new[] { new float[parameters], v });
    }

    public (float[] Weights, ServerOptimizerState State) Step(
        ReadOnlySpan<float> global, ReadOnlySpan<float> meanDelta, ServerOptimizerState state)
    {
        ServerOptimizers.CheckShapes(Name, 2, global, meanDelta, state);
        var m = state.Slots[0];
        var v = state.Slots[1];
        var nextM = new float[global.Length];
        var nextV = new float[global.Length];
        var weights = new float[global.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            float delta = meanDelta[i];
            float mi = _beta1 * m[i] + _oneMinusBeta1 * delta;
            float vi = NextV(v[i], delta * delta);
            nextM[i] = mi;
            nextV[i] = vi;
            weights[i] = global[i] + _eta * mi / (MathF.Sqrt(vi) + _tau);
        }
        return (weights, new ServerOptimizerState(new[] { nextM, nextV }));
    }

    /// <summary>The optimizer's second-moment update from the old <c>v</c> and <c>delta^2</c>.</summary>
    private protected abstract float NextV(float v, float deltaSquared);
}

/// <summary>FedAdagrad: <c>v = v + delta^2</c>.</summary>
public sealed class FedAdagrad : AdaptiveServerOptimizer
{
    public const string Key = "fedadagrad";

    public FedAdagrad(double learningRate, double beta1, double tau)
        : base(learningRate, beta1, tau)
    {
    }

    public override string Name => Key;

    private protected override float NextV(float v, float deltaSquared) => v + deltaSquared;
}

/// <summary>FedAdam: <c>v = beta2 * v + (1 - beta2) * delta^2</c>.</summary>
public sealed class FedAdam : AdaptiveServerOptimizer
{
    public const string Key = "fedadam";

    private readonly float _beta2;
    private readonly float _oneMinusBeta2;

    public FedAdam(double learningRate, double beta1, double beta2, double tau)
        : base(learningRate, beta1, tau)
    {
        Beta2 = ServerOptimizers.Decay(beta2, "server-beta2", nameof(beta2));
        _beta2 = (float)beta2;
        _oneMinusBeta2 = (float)(1 - beta2);
    }

    public double Beta2 { get; }

    public override string Name => Key;

    private protected override float NextV(float v, float deltaSquared) => _beta2 * v + _oneMinusBeta2 * deltaSquared;
}

/// <summary>
/// FedYogi: <c>v = v - (1 - beta2) * delta^2 * sign(v - delta^2)</c>. The change in <c>v</c> depends on
/// <c>delta^2</c> alone, not on <c>v</c>, so a large <c>v</c> cannot collapse in a few quiet rounds as
/// Adam's does, and the effective learning rate does not jump.
/// </summary>
public sealed class FedYogi : AdaptiveServerOptimizer
{
    public const string Key = "fedyogi";

    private readonly float _oneMinusBeta2;

    public FedYogi(double learningRate, double beta1, double beta2, double tau)
        : base(learningRate, beta1, tau)
    {
        Beta2 = ServerOptimizers.Decay(beta2, "server-beta2", nameof(beta2));
        _oneMinusBeta2 = (float)(1 - beta2);
    }

    public double Beta2 { get; }

    public override string Name => Key;

    private protected override float NextV(float v, float deltaSquared) =>
        v - _oneMinusBeta2 * deltaSquared * Sign(v - deltaSquared);

    /// <summary>numpy's <c>sign</c>: NaN stays NaN, where <c>Math.Sign</c> would throw.</summary>
    private static float Sign(float x) => x > 0 ? 1f : x < 0 ? -1f : x;
}

namespace AkkaFed.Model.Federation;

/// <summary>
/// Asynchronous, buffered aggregation (FedBuff, Nguyen et al. 2022): the server keeps <paramref name="Concurrency"/>
/// clients training, each from the model version it was sent, and moves the model every <paramref name="BufferSize"/>
/// updates. An update computed from version v and arriving at version v + s is s stale; it is weighted by
/// (1 + s)^-<paramref name="StalenessExponent"/> (0.5: the paper's 1/sqrt(1 + s)) and dropped beyond
/// <paramref name="MaxStaleness"/>.
/// </summary>
public sealed record FedBuffOptions(int Concurrency = 20, int BufferSize = 10, int MaxStaleness = 10, double StalenessExponent = 0.5)
{
    /// <summary>Throws a <see cref="SettingsException"/> naming the first setting that is out of range.</summary>
    public FedBuffOptions Validate()
    {
        if (Concurrency < 1)
            throw new SettingsException("concurrency", $"must be at least 1, got {Concurrency}");
        if (BufferSize < 1)
            throw new SettingsException("buffer-size", $"must be at least 1, got {BufferSize}");
        if (MaxStaleness < 0)
            throw new SettingsException("max-staleness", $"must be zero or more, got {MaxStaleness}");
        if (!(StalenessExponent >= 0) || double.IsInfinity(StalenessExponent))
            throw new SettingsException("staleness-exponent", $"must be zero or positive and finite, got {StalenessExponent}");
        return this;
    }

    /// <summary>The staleness function: 1 for a fresh update, smaller the staler it is.</summary>
    public double StalenessWeight(int staleness) =>
        staleness < 0 ? throw new ArgumentOutOfRangeException(nameof(staleness), staleness, "staleness is never negative")
            : Math.Pow(1 + staleness, -StalenessExponent);
}

/// <summary>
/// FedBuff's buffer: the updates since the last server step, each weighted by its examples (or 1) times its
/// staleness weight. Its sum is taken in the order updates are added, which the simulated clock fixes, so it is
/// the same to the last bit in every run.
/// </summary>
public sealed class StalenessBuffer
{
    private readonly FedBuffOptions _options;
    private readonly ClientWeighting _weighting;
    private readonly double[] _sum;
    private double _weight;
    private double _loss;
    private double _accuracy;
    private long _examples;

    public StalenessBuffer(FedBuffOptions options, ClientWeighting weighting, int parameters)
    {
        _options = options;
        _weighting = weighting;
        _sum = new double[parameters];
    }

    /// <summary>Updates in the buffer.</summary>
    public int Count { get; private set; }

    /// <summary>The buffer holds <see cref="FedBuffOptions.BufferSize"/> updates: time for a server step.</summary>
    public bool IsFull => Count >= _options.BufferSize;

    /// <summary>Staleness of the updates in the buffer, summed (for the mean a round reports).</summary>
    public long TotalStaleness { get; private set; }

    /// <summary>
    /// Adds <paramref name="update"/>, <paramref name="staleness"/> versions old; false (adding nothing) when it is
    /// staler than max-staleness. Throws <see cref="ArgumentException"/> for a delta of another length.
    /// </summary>
    public bool Add(ClientUpdate update, int staleness)
    {
        if (update.Delta.Length != _sum.Length)
        {
            throw new ArgumentException($"the update of {update.ClientId} has {update.Delta.Length} values, the model {_sum.Length}");
        }
        if (staleness > _options.MaxStaleness)
        {
            return false;
        }
        double weight = _weighting == ClientWeighting.Uniform ? 1 : update.Examples;
        double scaled = weight * _options.StalenessWeight(staleness);
        var delta = update.Delta.ToFloats();
        for (int i = 0; i < _sum.Length; i++)
        {
            _sum[i] += scaled * delta[i];
        }
        _weight += weight;
        _loss += update.Loss * update.Examples;
        _accuracy += update.Accuracy * update.Examples;
        _examples += update.Examples;
        TotalStaleness += staleness;
        Count++;
        return true;
    }

    /// <summary>The combined delta: Σ wᵢ·s(τᵢ)·Δᵢ / Σ wᵢ, so stale updates move the model less.</summary>
    public float[] Combine()
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("an empty buffer has nothing to combine");
        }
        var combined = new float[_sum.Length];
        for (int i = 0; i < combined.Length; i++)
        {
            combined[i] = (float)(_sum[i] / _weight);
        }
        return combined;
    }

    /// <summary>Example-weighted training loss and accuracy of the updates in the buffer.</summary>
    public (double Loss, double Accuracy) TrainingMetrics() =>
        _examples == 0 ? (double.NaN, double.NaN) : (_loss / _examples, _accuracy / _examples);
}

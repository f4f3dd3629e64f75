namespace AkkaFed.Model.Simulation;

/// <summary>One simulated device: its compute speed, its bandwidth (both directions), and when it is online.</summary>
/// <param name="Gflops">Effective training speed in GFLOP/s.</param>
/// <param name="Mbps">Network bandwidth in Mbit/s, for the model down and the update up.</param>
public sealed record DeviceProfile(double Gflops, double Mbps, Availability Availability);

/// <summary>
/// When a device is online, in simulated seconds since the run began: a list of [start, end) windows that repeats
/// every <see cref="Period"/> seconds. <see cref="Always"/> has no windows and is online at every time.
/// </summary>
public sealed record Availability
{
    private Availability(IReadOnlyList<(double Start, double End)> windows, double period)
    {
        Windows = windows;
        Period = period;
    }

    public static readonly Availability Always = new(Array.Empty<(double, double)>(), double.PositiveInfinity);

    /// <summary>Online during <paramref name="windows"/> (sorted, disjoint, within [0, period]), repeated every <paramref name="period"/>.</summary>
    public static Availability Of(IReadOnlyList<(double Start, double End)> windows, double period) => new(windows, period);

    public IReadOnlyList<(double Start, double End)> Windows { get; }
    public double Period { get; }

    public bool IsOnline(double time) => Windows.Count == 0;

    /// <summary>When the online window that contains <paramref name="time"/> ends: infinity if always online.</summary>
    public double OnlineUntil(double time) => double.PositiveInfinity;
}

/// <summary>Built-in device population: every draw is a pure function of the seed and the client id.</summary>
public sealed record SyntheticDevices(
    double Gflops = 10,
    double Mbps = 100,
    double Spread = 0,
    double SlowFraction = 0,
    double SlowFactor = 10,
    double OnlineFraction = 1,
    double AvailabilityPeriod = 3600,
    int Seed = 0)
{
    public SyntheticDevices Validate() => this;
}

/// <summary>The device of every client: drawn from <see cref="SyntheticDevices"/> or read from a trace file.</summary>
public sealed class DeviceProfiles
{
    private readonly SyntheticDevices _synthetic;

    private DeviceProfiles(SyntheticDevices synthetic) => _synthetic = synthetic;

    public static DeviceProfiles Synthetic(SyntheticDevices settings) => new(settings.Validate());

    public DeviceProfile For(string clientId) => new(_synthetic.Gflops, _synthetic.Mbps, Availability.Always);
}

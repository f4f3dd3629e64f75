using System.Runtime.CompilerServices;
using System.Globalization;
using AkkaFed.Model.Federation;

namespace AkkaFed.Model.Simulation;

/// <summary>One simulated device: its compute speed, its bandwidth (both directions), and when it is online.</summary>
/// <param name="Gflops">Effective training speed in GFLOP/s.</param>
/// <param name="Mbps">Network bandwidth in Mbit/s, for the model down and the update up.</param>
/// <param name="Availability">When the device is online, in simulated seconds since the run began.</param>
public sealed record DeviceProfile(double Gflops, double Mbps, Availability Availability);

/// <summary>
/// When a device is online, in simulated seconds since the run began: a list of [start, end) windows that repeats
/// every <see cref="Period"/> seconds. <see cref="Always"/> has no windows and is online at every time.
/// </summary>
/// <remarks>
/// Repetition is seamless: a window that ends at <see cref="Period"/> runs on into a window that starts at 0,
/// so [0, 10) and [90, 100) every 100 s is online from 90 to 110. Two availabilities are equal when their
/// windows and period are.
/// </remarks>
public sealed record Availability
{
    private readonly (double Start, double End)[] _windows;

    private Availability((double Start, double End)[] windows, double period)
    {
        _windows = windows;
        Windows = Array.AsReadOnly(windows);
        Period = period;
    }

    /// <summary>Online at every time: no windows, an infinite period.</summary>
    public static readonly Availability Always = new(Array.Empty<(double, double)>(), double.PositiveInfinity);

    /// <summary>
    /// Online during <paramref name="windows"/> (sorted, disjoint, within [0, period]), repeated every <paramref name="period"/>.
    /// Windows that touch ([0, 5) and [5, 9)) are merged into one.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The period is not positive and finite; there are no windows (use <see cref="Always"/> for a device that is
    /// always online); or a window is empty, outside [0, period], out of order or overlaps the one before.
    /// </exception>
    public static Availability Of(IReadOnlyList<(double Start, double End)> windows, double period)
    {
        ArgumentNullException.ThrowIfNull(windows);
        if (!double.IsFinite(period) || period <= 0)
        {
            throw new ArgumentException($"the period must be a positive finite number of seconds, got {Format(period)}", nameof(period));
        }
        if (windows.Count == 0)
        {
            throw new ArgumentException("there must be at least one online window; Availability.Always is online at every time", nameof(windows));
        }
        var merged = new List<(double Start, double End)>(windows.Count);
        for (int i = 0; i < windows.Count; i++)
        {
            var (start, end) = windows[i];
            // Only for an error: formatting two doubles for every window of every client costs more than the rest.
            string Name() => $"window {i} [{Format(start)}, {Format(end)})";
            if (!double.IsFinite(start) || !double.IsFinite(end))
            {
                throw new ArgumentException($"{Name()} must have finite bounds", nameof(windows));
            }
            if (start >= end)
            {
                throw new ArgumentException($"{Name()} is empty: its start must be below its end", nameof(windows));
            }
            if (start < 0 || end > period)
            {
                throw new ArgumentException($"{Name()} must lie within [0, {Format(period)}], the period", nameof(windows));
            }
            if (i > 0 && start < windows[i - 1].Start)
            {
                throw new ArgumentException($"{Name()} starts before window {i - 1}: the windows must be sorted", nameof(windows));
            }
            if (i > 0 && start < windows[i - 1].End)
            {
                throw new ArgumentException($"{Name()} overlaps window {i - 1}, which ends at {Format(windows[i - 1].End)}", nameof(windows));
            }
            if (merged.Count > 0 && merged[^1].End == start)
            {
                merged[^1] = (merged[^1].Start, end);
            }
            else
            {
                merged.Add((start, end));
            }
        }
        return new Availability(merged.ToArray(), period);
    }

    /// <summary>The [start, end) windows within one period, sorted, disjoint and not touching; empty for <see cref="Always"/>.</summary>
    public IReadOnlyList<(double Start, double End)> Windows { get; }

    /// <summary>Seconds after which the windows repeat; infinity for <see cref="Always"/>.</summary>
    public double Period { get; }

    /// <summary>The share of time the device is online: 1 for <see cref="Always"/>.</summary>
    public double OnlineFraction => _windows.Length == 0 ? 1 : _windows.Sum(w => w.End - w.Start) / Period;

    /// <summary>Whether the device is online at <paramref name="time"/> (a finite number of seconds).</summary>
    public bool IsOnline(double time)
    {
        RequireFinite(time);
        return _windows.Length == 0 || WindowAt(Phase(time, out _)) >= 0;
    }

    /// <summary>
    /// When the online stretch that contains <paramref name="time"/> ends, as an absolute time: infinity if always
    /// online (<see cref="Always"/>, or one window covering the whole period), <paramref name="time"/> itself if the
    /// device is offline then. A window ending at the period runs on into a window starting at 0.
    /// </summary>
    public double OnlineUntil(double time)
    {
        RequireFinite(time);
        if (_windows.Length == 0 || CoversPeriod)
        {
            return double.PositiveInfinity;
        }
        double phase = Phase(time, out double periodStart);
        int i = WindowAt(phase);
        if (i < 0)
        {
            return time;
        }
        bool wraps = i == _windows.Length - 1 && _windows[i].End == Period && _windows[0].Start == 0;
        return wraps ? periodStart + Period + _windows[0].End : periodStart + _windows[i].End;
    }

    /// <summary>The earliest time at or after <paramref name="time"/> at which the device is online: <paramref name="time"/> itself if it is online then.</summary>
    public double NextOnline(double time)
    {
        RequireFinite(time);
        if (_windows.Length == 0)
        {
            return time;
        }
        double phase = Phase(time, out double periodStart);
        if (WindowAt(phase) >= 0)
        {
            return time;
        }
        foreach (var (start, _) in _windows)
        {
            if (start > phase)
            {
                return Math.Max(time, periodStart + start);
            }
        }
        return Math.Max(time, periodStart + Period + _windows[0].Start);
    }

    /// <summary>"always online", or the windows and period, e.g. "online 0-3600;7200-9000 every 10800 s".</summary>
    public override string ToString() =>
        _windows.Length == 0
            ? "always online"
            : $"online {string.Join(";", _windows.Select(w => $"{Format(w.Start)}-{Format(w.End)}"))} every {Format(Period)} s";

    /// <summary>Equal when the windows and the period are.</summary>
    public bool Equals(Availability? other) =>
        other is not null && Period.Equals(other.Period) && _windows.AsSpan().SequenceEqual(other._windows);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Period);
        foreach (var window in _windows)
        {
            hash.Add(window);
        }
        return hash.ToHashCode();
    }

    private bool CoversPeriod => _windows.Length == 1 && _windows[0].Start == 0 && _windows[0].End == Period;

    /// <summary>The time within its period, in [0, Period), and the absolute time that period began.</summary>
    private double Phase(double time, out double periodStart) => Phase(time, Period, out periodStart);

    private static double Phase(double time, double period, out double periodStart)
    {
        double cycle = Math.Floor(time / period);
        double phase = time - cycle * period;
        // Division and multiplication round: keep the phase in [0, period) by moving to the neighbouring cycle.
        if (phase >= period)
        {
            cycle += 1;
            phase = Math.Max(0, time - cycle * period);
        }
        else if (phase < 0)
        {
            cycle -= 1;
            phase = Math.Min(time - cycle * period, Math.BitDecrement(period));
        }
        periodStart = cycle * period;
        return phase;
    }

    /// <summary>The index of the window containing <paramref name="phase"/>, or -1.</summary>
    private int WindowAt(double phase)
    {
        // The last window starting at or before the phase is the only candidate.
        int low = 0, high = _windows.Length - 1, found = -1;
        while (low <= high)
        {
            int middle = (low + high) / 2;
            if (_windows[middle].Start <= phase)
            {
                found = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }
        return found >= 0 && phase < _windows[found].End ? found : -1;
    }

    /// <summary>
    /// What <see cref="IsOnline"/> says at <paramref name="time"/> of one window [<paramref name="start"/>,
    /// <paramref name="end"/>) a period (start in [0, period), end in (start, start + period]), whose part past the
    /// period runs on from 0; without making the availability (ten million clients are asked each round).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    internal static bool InWindow(double time, double period, double start, double end)
    {
        RequireFinite(time);
        double phase = Phase(time, period, out _);
        return end <= period ? phase >= start && phase < end : phase < end - period || phase >= start;
    }

    private static void RequireFinite(double time)
    {
        if (!double.IsFinite(time))
        {
            throw new ArgumentOutOfRangeException(nameof(time), time, "a time must be a finite number of seconds");
        }
    }

    internal static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>
/// Built-in device population: every draw is a pure function of the seed and the client id. Speed and bandwidth
/// are lognormal around <see cref="Gflops"/> and <see cref="Mbps"/> (their medians); a share of the clients is slow
/// by a factor; each client is online for one window per period at a phase of its own.
/// </summary>
/// <param name="Gflops">Median effective training speed in GFLOP/s (device-gflops).</param>
/// <param name="Mbps">Median bandwidth in Mbit/s, both directions (device-mbps).</param>
/// <param name="Spread">Sigma of the lognormal spread of speed and bandwidth; 0 gives every client the medians (device-spread).</param>
/// <param name="SlowFraction">Share of the clients whose speed and bandwidth are divided by <paramref name="SlowFactor"/> (slow-fraction).</param>
/// <param name="SlowFactor">How many times slower a slow client is, in compute and network (slow-factor).</param>
/// <param name="OnlineFraction">Share of each period a client is online; 1 is always online (online-fraction).</param>
/// <param name="AvailabilityPeriod">Seconds after which a client's online window repeats (availability-period).</param>
/// <param name="Seed">The run's seed: the same seed and client id always give the same device.</param>
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
    /// <summary>These settings, if every one is in range.</summary>
    /// <exception cref="SettingsException">A setting is out of range; its HOCON key names it.</exception>
    public SyntheticDevices Validate()
    {
        if (!double.IsFinite(Gflops) || Gflops <= 0)
        {
            throw new SettingsException("device-gflops", $"must be a positive finite number of GFLOP/s, got {Gflops}");
        }
        if (!double.IsFinite(Mbps) || Mbps <= 0)
        {
            throw new SettingsException("device-mbps", $"must be a positive finite number of Mbit/s, got {Mbps}");
        }
        if (!double.IsFinite(Spread) || Spread < 0)
        {
            throw new SettingsException("device-spread", $"must be zero or positive and finite (the sigma of a lognormal), got {Spread}");
        }
        if (!(SlowFraction >= 0 && SlowFraction <= 1))
        {
            throw new SettingsException("slow-fraction", $"must be in [0, 1], got {SlowFraction}");
        }
        if (!double.IsFinite(SlowFactor) || SlowFactor < 1)
        {
            throw new SettingsException("slow-factor", $"must be at least 1 and finite, got {SlowFactor}");
        }
        if (!(OnlineFraction > 0 && OnlineFraction <= 1))
        {
            throw new SettingsException("online-fraction", $"must be in (0, 1], got {OnlineFraction}");
        }
        if (!double.IsFinite(AvailabilityPeriod) || AvailabilityPeriod <= 0)
        {
            throw new SettingsException("availability-period", $"must be a positive finite number of seconds, got {AvailabilityPeriod}");
        }
        return this;
    }

    /// <summary>The device of <paramref name="clientId"/>: a pure function of <see cref="Seed"/> and the id.</summary>
    /// <summary>Whether <paramref name="clientId"/>'s device is online at <paramref name="time"/>: <see cref="Draw"/>'s availability alone.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    internal bool IsOnline(ReadOnlySpan<char> clientId, double time)
    {
        if (OnlineFraction >= 1)
        {
            return Availability.Always.IsOnline(time);
        }
        var (start, end) = Window(clientId);
        return Availability.InWindow(time, AvailabilityPeriod, start, end);
    }

    internal DeviceProfile Draw(string clientId)
    {
        double gflops = Gflops * Math.Exp(Spread * Normal(clientId + "/speed"));
        double mbps = Mbps * Math.Exp(Spread * Normal(clientId + "/bandwidth"));
        bool slow = SlowFraction >= 1 || StableSeed.Uniform(Seed, 0, clientId + "/slow") < SlowFraction;
        if (slow)
        {
            gflops /= SlowFactor;
            mbps /= SlowFactor;
        }
        return new DeviceProfile(gflops, mbps, DrawAvailability(clientId));
    }

    private Availability DrawAvailability(string clientId)
    {
        if (OnlineFraction >= 1)
        {
            return Availability.Always;
        }
        double period = AvailabilityPeriod;
        var (phase, end) = Window(clientId);
        if (end <= period)
        {
            return Availability.Of(new[] { (phase, end) }, period);
        }
        // The window runs past the period's end: its tail is at the start of the period.
        return Availability.Of(new[] { (0.0, end - period), (phase, period) }, period);
    }

    /// <summary>The client's online window in its period: from its drawn phase, <see cref="OnlineFraction"/> of the period long.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    private (double Start, double End) Window(ReadOnlySpan<char> clientId)
    {
        double period = AvailabilityPeriod;
        double phase = StableSeed.Mix(Seed, 0, clientId, "/phase") / (double)int.MaxValue * period;
        if (phase >= period)
        {
            phase = 0;
        }
        return (phase, phase + OnlineFraction * period);
    }

    /// <summary>A standard normal by Box–Muller from two stable uniforms.</summary>
    private double Normal(string label)
    {
        // Uniform can be 0, and log(0) is not a number: the smallest positive step stands in for it.
        double u1 = Math.Max(StableSeed.Uniform(Seed, 0, label + "-u1"), 1.0 / int.MaxValue);
        double u2 = StableSeed.Uniform(Seed, 0, label + "-u2");
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}

/// <summary>The device of every client: drawn from <see cref="SyntheticDevices"/> or read from a trace file.</summary>
/// <remarks>Immutable and safe to share between threads.</remarks>
public sealed class DeviceProfiles
{
    /// <summary>The header a trace must start with; <c>,period</c> may follow it.</summary>
    public const string TraceHeader = "client,gflops,mbps,online";

    private const string TraceKey = "device-trace";

    private readonly SyntheticDevices? _synthetic;
    private readonly string _source = "";
    private readonly DeviceProfile[] _rows = Array.Empty<DeviceProfile>();
    private readonly Dictionary<string, DeviceProfile> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<int, DeviceProfile> _byIndex = new();

    private DeviceProfiles(SyntheticDevices synthetic) => _synthetic = synthetic;

    private DeviceProfiles(string source, DeviceProfile[] rows, Dictionary<string, DeviceProfile> byId, Dictionary<int, DeviceProfile> byIndex)
    {
        _source = source;
        _rows = rows;
        _byId = byId;
        _byIndex = byIndex;
    }

    /// <summary>Devices drawn from <paramref name="settings"/>, which are validated first.</summary>
    /// <exception cref="SettingsException">A setting is out of range.</exception>
    public static DeviceProfiles Synthetic(SyntheticDevices settings) => new(settings.Validate());

    /// <summary>Devices read from the trace file at <paramref name="path"/> (UTF-8 CSV; see <see cref="Parse"/>).</summary>
    /// <exception cref="SettingsException">
    /// Key <c>device-trace</c>: the file does not exist or cannot be read, or a line of it is wrong.
    /// </exception>
    public static DeviceProfiles FromTrace(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new SettingsException(TraceKey, $"{path}: no such file");
        }
        try
        {
            using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return Parse(reader, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException(TraceKey, $"{path}: {e.Message}");
        }
    }

    /// <summary>
    /// Devices read from a trace: lines starting with <c>#</c> and blank lines are skipped; the first other line is
    /// the header <c>client,gflops,mbps,online</c> (or with <c>,period</c>), any case; every later line is one device.
    /// <c>client</c> is a row index (digits) or a client id; <c>online</c> is empty (always online) or
    /// <c>start-end</c> windows in seconds separated by <c>;</c>, repeating every <c>period</c> seconds, by default
    /// the end of the last window.
    /// </summary>
    /// <param name="sourceName">Names the trace in error messages and <see cref="Describe"/>, e.g. its path.</param>
    /// <exception cref="SettingsException">
    /// Key <c>device-trace</c>, message <c>"{sourceName} line {n}: {problem}"</c>: a wrong header or column count,
    /// a non-numeric or non-positive gflops, mbps or period, a malformed, unsorted or overlapping window, a window
    /// past the period, a duplicate client, or no rows at all.
    /// </exception>
    public static DeviceProfiles Parse(TextReader reader, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        int lineNumber = 0;
        int columns = 0;
        var rows = new List<DeviceProfile>();
        var byId = new Dictionary<string, DeviceProfile>(StringComparer.Ordinal);
        var byIndex = new Dictionary<int, DeviceProfile>();
        var lineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        SettingsException Error(string problem) => new(TraceKey, $"{sourceName} line {lineNumber}: {problem}");

        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (lineNumber == 1)
            {
                line = line.TrimStart('\uFEFF');
            }
            string trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }
            string[] fields = trimmed.Split(',').Select(f => f.Trim()).ToArray();
            if (columns == 0)
            {
                string header = string.Join(",", fields).ToLowerInvariant();
                if (header != TraceHeader && header != TraceHeader + ",period")
                {
                    throw Error($"expected the header '{TraceHeader}' (or '{TraceHeader},period'), got '{trimmed}'");
                }
                columns = fields.Length;
                continue;
            }
            if (fields.Length != columns)
            {
                throw Error($"expected {columns} columns ({(columns == 4 ? TraceHeader : TraceHeader + ",period")}), got {fields.Length}");
            }

            string client = fields[0];
            if (client.Length == 0)
            {
                throw Error("the client is empty: give a row index or a client id");
            }
            bool isIndex = int.TryParse(client, NumberStyles.None, CultureInfo.InvariantCulture, out int index);
            string key = isIndex ? "#" + index.ToString(CultureInfo.InvariantCulture) : client;
            if (lineOf.TryGetValue(key, out int earlier))
            {
                throw Error($"client {(isIndex ? index.ToString(CultureInfo.InvariantCulture) : $"'{client}'")} is already on line {earlier}");
            }

            double gflops = Positive(fields[1], "gflops", "GFLOP/s", Error);
            double mbps = Positive(fields[2], "mbps", "Mbit/s", Error);
            double? period = columns == 5 && fields[4].Length > 0 ? Positive(fields[4], "period", "seconds", Error) : null;
            var availability = ParseOnline(fields[3], period, Error);

            var profile = new DeviceProfile(gflops, mbps, availability);
            lineOf[key] = lineNumber;
            rows.Add(profile);
            if (isIndex)
            {
                byIndex[index] = profile;
            }
            else
            {
                byId[client] = profile;
            }
        }

        if (rows.Count == 0)
        {
            lineNumber = Math.Max(lineNumber, 1);
            throw Error(columns == 0
                ? $"the trace ends without the header '{TraceHeader}' or any device rows"
                : "the trace ends without any device rows");
        }
        return new DeviceProfiles(sourceName, rows.ToArray(), byId, byIndex);
    }

    /// <summary>How many devices the trace holds; 0 for a synthetic population, which has no rows.</summary>
    public int Count => _rows.Length;

    /// <summary>Whether every client is online at every time, so that who is online needs no look at each client.</summary>
    public bool AlwaysOnline => _synthetic is { } s ? s.OnlineFraction >= 1 : _rows.All(row => row.Availability.Equals(Availability.Always));

    /// <summary>Whether <paramref name="clientId"/> is online at <paramref name="time"/>: <c>For(clientId).Availability.IsOnline(time)</c>, cheaper.</summary>
    public bool IsOnline(ReadOnlySpan<char> clientId, double time) =>
        _synthetic is { } synthetic ? synthetic.IsOnline(clientId, time) : For(clientId.ToString()).Availability.IsOnline(time);

    /// <summary>
    /// The device of <paramref name="clientId"/>. Synthetic: drawn from the seed and the id. Trace: the row whose
    /// client is exactly the id; else, when the id ends in digits (<c>client-00012</c> is 12), the row with that
    /// index, or if there is none row (number mod <see cref="Count"/>) in file order, as FedScale assigns traces to
    /// clients cyclically; else row (<c>StableSeed.Mix(0, 0, id)</c> mod <see cref="Count"/>).
    /// </summary>
    public DeviceProfile For(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        if (_synthetic is not null)
        {
            return _synthetic.Draw(clientId);
        }
        if (_byId.TryGetValue(clientId, out var exact))
        {
            return exact;
        }
        int digits = 0;
        while (digits < clientId.Length && char.IsAsciiDigit(clientId[clientId.Length - 1 - digits]))
        {
            digits++;
        }
        if (digits == 0)
        {
            return _rows[StableSeed.Mix(0, 0, clientId) % _rows.Length];
        }
        var number = clientId.AsSpan(clientId.Length - digits);
        if (int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && _byIndex.TryGetValue(index, out var indexed))
        {
            return indexed;
        }
        // The number mod the row count, digit by digit, so that a number too long for an int still maps to a row.
        int row = 0;
        foreach (char c in number)
        {
            row = (int)((row * 10L + (c - '0')) % _rows.Length);
        }
        return _rows[row];
    }

    /// <summary>
    /// A one-line summary, e.g. "synthetic: 10 GFLOP/s, 100 Mbit/s, spread 0, 30% slow (x10), always online" or
    /// "trace devices.csv: 120 devices (12 always online)".
    /// </summary>
    public string Describe()
    {
        if (_synthetic is { } s)
        {
            string online = s.OnlineFraction >= 1
                ? "always online"
                : $"online {Percent(s.OnlineFraction)} of every {Availability.Format(s.AvailabilityPeriod)} s";
            return $"synthetic: {Availability.Format(s.Gflops)} GFLOP/s, {Availability.Format(s.Mbps)} Mbit/s, " +
                   $"spread {Availability.Format(s.Spread)}, {Percent(s.SlowFraction)} slow (x{Availability.Format(s.SlowFactor)}), {online}";
        }
        int always = _rows.Count(r => r.Availability.Windows.Count == 0);
        return $"trace {_source}: {_rows.Length} device{(_rows.Length == 1 ? "" : "s")} ({always} always online)";
    }

    private static string Percent(double fraction) => (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    private static double Positive(string text, string column, string unit, Func<string, SettingsException> error)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || value <= 0)
        {
            throw error($"{column} must be a positive number of {unit}, got '{text}'");
        }
        return value;
    }

    private static Availability ParseOnline(string text, double? period, Func<string, SettingsException> error)
    {
        if (text.Length == 0)
        {
            return Availability.Always;
        }
        var windows = new List<(double Start, double End)>();
        foreach (string part in text.Split(';'))
        {
            string window = part.Trim();
            if (window.Length == 0)
            {
                throw error($"an online window is empty: '{text}' has a stray ';'");
            }
            string[] bounds = window.Split('-');
            if (bounds.Length != 2
                || !TryParseSeconds(bounds[0], out double start)
                || !TryParseSeconds(bounds[1], out double end))
            {
                throw error($"the online window '{window}' is not start-end in seconds, e.g. 0-3600");
            }
            if (start >= end)
            {
                throw error($"the online window '{window}' is empty: its start must be below its end");
            }
            if (windows.Count > 0)
            {
                var (previousStart, previousEnd) = windows[^1];
                string previous = $"{Availability.Format(previousStart)}-{Availability.Format(previousEnd)}";
                if (start < previousStart)
                {
                    throw error($"the online window '{window}' starts before '{previous}': windows must be sorted");
                }
                if (start < previousEnd)
                {
                    throw error($"the online window '{window}' overlaps '{previous}'");
                }
            }
            windows.Add((start, end));
        }
        double repeat = period ?? windows[^1].End;
        if (windows[^1].End > repeat)
        {
            throw error($"the online window ending at {Availability.Format(windows[^1].End)} runs past the period, {Availability.Format(repeat)} s");
        }
        try
        {
            return Availability.Of(windows, repeat);
        }
        catch (ArgumentException e)
        {
            throw error(e.Message);
        }
    }

    private static bool TryParseSeconds(string text, out double seconds) =>
        double.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out seconds) && double.IsFinite(seconds);
}

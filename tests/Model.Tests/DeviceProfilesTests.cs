using AkkaFed.Model.Federation;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class DeviceProfilesTests
{
    private const string ExampleTrace = """
        # comment lines start with #; blank lines are skipped
        client,gflops,mbps,online

        0,12.5,20,
        1,3.1,5,0-3600;7200-10800
        client-00002,8,50,100-200;300-400
        """;

    private static readonly Availability EveryHundred = Availability.Of(new[] { (0.0, 10.0), (40.0, 50.0), (90.0, 100.0) }, 100);

    // ---- Availability ----

    [Theory]
    [InlineData(0, true)]
    [InlineData(9.999, true)]
    [InlineData(10, false)]
    [InlineData(39.5, false)]
    [InlineData(40, true)]
    [InlineData(50, false)]
    [InlineData(95, true)]
    [InlineData(100, true)]
    [InlineData(145, true)]
    [InlineData(160, false)]
    [InlineData(-5, true)]
    [InlineData(-15, false)]
    [InlineData(1_000_000_005, true)]
    [InlineData(1_000_000_015, false)]
    public void Availability_is_online_in_its_windows_repeated_every_period(double time, bool online)
    {
        Assert.Equal(online, EveryHundred.IsOnline(time));
    }

    [Fact]
    public void Always_is_online_at_every_time_and_forever()
    {
        Assert.True(Availability.Always.IsOnline(0));
        Assert.True(Availability.Always.IsOnline(1e12));
        Assert.Equal(double.PositiveInfinity, Availability.Always.OnlineUntil(123));
        Assert.Equal(123, Availability.Always.NextOnline(123));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(5, 10)]
    [InlineData(45, 50)]
    [InlineData(90, 110)]
    [InlineData(99.5, 110)]
    [InlineData(290, 310)]
    [InlineData(20, 20)]
    public void Online_until_is_the_end_of_the_window_merging_the_wrap_into_the_next_period(double time, double until)
    {
        Assert.Equal(until, EveryHundred.OnlineUntil(time), 9);
    }

    [Fact]
    public void Touching_windows_are_one_stretch_and_a_full_period_is_online_forever()
    {
        var touching = Availability.Of(new[] { (0.0, 5.0), (5.0, 9.0) }, 20);
        var full = Availability.Of(new[] { (0.0, 30.0) }, 30);

        Assert.Equal(new[] { (0.0, 9.0) }, touching.Windows);
        Assert.Equal(29, touching.OnlineUntil(22));
        Assert.Equal(double.PositiveInfinity, full.OnlineUntil(1000));
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(10, 40)]
    [InlineData(20, 40)]
    [InlineData(60, 90)]
    [InlineData(160, 190)]
    public void Next_online_is_the_next_window_start_or_the_time_itself(double time, double next)
    {
        Assert.Equal(next, EveryHundred.NextOnline(time), 9);
    }

    [Fact]
    public void Next_online_wraps_into_the_next_period()
    {
        var late = Availability.Of(new[] { (30.0, 40.0) }, 100);

        Assert.Equal(130, late.NextOnline(50), 9);
        Assert.True(late.IsOnline(late.NextOnline(50)));
        Assert.Equal(140, late.OnlineUntil(late.NextOnline(50)), 9);
    }

    [Theory]
    [InlineData(new double[] { 0, 10 }, 0, "period")]
    [InlineData(new double[] { 0, 10 }, double.PositiveInfinity, "period")]
    [InlineData(new double[] { 5, 5 }, 100, "empty")]
    [InlineData(new double[] { -1, 5 }, 100, "within [0, 100]")]
    [InlineData(new double[] { 50, 120 }, 100, "within [0, 100]")]
    [InlineData(new double[] { 50, 60, 10, 20 }, 100, "sorted")]
    [InlineData(new double[] { 10, 60, 50, 70 }, 100, "overlaps")]
    [InlineData(new double[] { }, 100, "Availability.Always")]
    public void Bad_windows_are_rejected_with_the_reason(double[] bounds, double period, string reason)
    {
        var windows = Enumerable.Range(0, bounds.Length / 2).Select(i => (bounds[2 * i], bounds[2 * i + 1])).ToArray();

        var error = Assert.Throws<ArgumentException>(() => Availability.Of(windows, period));

        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Availabilities_with_the_same_windows_are_equal()
    {
        Assert.Equal(Availability.Of(new[] { (1.0, 2.0) }, 10), Availability.Of(new List<(double, double)> { (1, 2) }, 10));
        Assert.NotEqual(Availability.Of(new[] { (1.0, 2.0) }, 10), Availability.Of(new[] { (1.0, 2.0) }, 11));
        Assert.NotEqual(Availability.Always, Availability.Of(new[] { (1.0, 2.0) }, 10));
    }

    // ---- Synthetic devices ----

    [Fact]
    public void Without_spread_every_client_gets_exactly_the_medians_and_is_always_online()
    {
        var devices = DeviceProfiles.Synthetic(new SyntheticDevices(Gflops: 12, Mbps: 34));

        var profile = devices.For("client-00007");

        Assert.Equal(new DeviceProfile(12, 34, Availability.Always), profile);
        Assert.Equal(0, devices.Count);
    }

    [Fact]
    public void Synthetic_devices_depend_only_on_the_seed_and_the_id()
    {
        var settings = new SyntheticDevices(Spread: 0.5, SlowFraction: 0.3, OnlineFraction: 0.5, Seed: 7);

        var first = DeviceProfiles.Synthetic(settings).For("client-00001");
        var again = DeviceProfiles.Synthetic(settings with { }).For("client-00001");
        var other = DeviceProfiles.Synthetic(settings).For("client-00002");
        var reseeded = DeviceProfiles.Synthetic(settings with { Seed = 8 }).For("client-00001");

        Assert.Equal(first, again);
        Assert.NotEqual(first.Gflops, other.Gflops);
        Assert.NotEqual(first.Mbps, other.Mbps);
        Assert.NotEqual(first.Availability, other.Availability);
        Assert.NotEqual(first.Gflops, reseeded.Gflops);
        Assert.NotEqual(first.Gflops / settings.Gflops, first.Mbps / settings.Mbps);
    }

    [Fact]
    public void The_slow_fraction_of_clients_is_slow_by_the_factor_in_compute_and_network()
    {
        var devices = DeviceProfiles.Synthetic(new SyntheticDevices(Gflops: 10, Mbps: 100, SlowFraction: 0.3, SlowFactor: 10, Seed: 3));

        var profiles = Ids(10_000).Select(devices.For).ToArray();

        Assert.All(profiles, p => Assert.True(p is { Gflops: 10, Mbps: 100 } or { Gflops: 1, Mbps: 10 }, $"{p}"));
        Assert.InRange(profiles.Count(p => p.Gflops == 1) / 10_000.0, 0.28, 0.32);
    }

    [Fact]
    public void With_spread_the_median_is_the_setting_and_the_log_spread_is_sigma()
    {
        var devices = DeviceProfiles.Synthetic(new SyntheticDevices(Gflops: 10, Mbps: 100, Spread: 0.5, Seed: 11));

        var profiles = Ids(10_000).Select(devices.For).ToArray();
        var speeds = profiles.Select(p => p.Gflops).Order().ToArray();
        var logBandwidths = profiles.Select(p => Math.Log(p.Mbps)).ToArray();
        double mean = logBandwidths.Average();
        double sigma = Math.Sqrt(logBandwidths.Sum(x => (x - mean) * (x - mean)) / logBandwidths.Length);

        Assert.InRange(speeds[speeds.Length / 2], 9.5, 10.5);
        Assert.InRange(Math.Exp(mean), 95, 105);
        Assert.InRange(sigma, 0.47, 0.53);
    }

    [Fact]
    public void A_quarter_online_fraction_puts_a_quarter_of_clients_online_at_any_time()
    {
        var settings = new SyntheticDevices(OnlineFraction: 0.25, AvailabilityPeriod: 3600, Seed: 5);
        var devices = DeviceProfiles.Synthetic(settings);
        var random = new Random(42);

        var profiles = Ids(10_000).Select(devices.For).ToArray();
        int online = profiles.Count(p => p.Availability.IsOnline(random.NextDouble() * 100_000));

        Assert.InRange(online / 10_000.0, 0.23, 0.27);
        Assert.All(profiles, p => Assert.Equal(0.25, p.Availability.OnlineFraction, 9));
        Assert.All(profiles, p => Assert.Equal(3600, p.Availability.Period));
        Assert.Contains(profiles, p => p.Availability.Windows.Count == 2);
    }

    [Fact]
    public void A_window_past_the_period_end_is_split_and_stays_one_stretch()
    {
        var devices = DeviceProfiles.Synthetic(new SyntheticDevices(OnlineFraction: 0.25, AvailabilityPeriod: 100, Seed: 5));

        var split = Ids(1000).Select(devices.For).First(p => p.Availability.Windows.Count == 2).Availability;
        double start = split.Windows[1].Start;

        Assert.Equal(0, split.Windows[0].Start);
        Assert.Equal(100, split.Windows[1].End);
        Assert.Equal(start + 25, split.OnlineUntil(start), 9);
        Assert.Equal(start + 125, split.OnlineUntil(start + 100), 9);
    }

    [Theory]
    [InlineData("device-gflops", 0, 100, 0, 0, 10, 1, 3600)]
    [InlineData("device-gflops", double.PositiveInfinity, 100, 0, 0, 10, 1, 3600)]
    [InlineData("device-mbps", 10, -1, 0, 0, 10, 1, 3600)]
    [InlineData("device-mbps", 10, double.NaN, 0, 0, 10, 1, 3600)]
    [InlineData("device-spread", 10, 100, -0.1, 0, 10, 1, 3600)]
    [InlineData("device-spread", 10, 100, double.PositiveInfinity, 0, 10, 1, 3600)]
    [InlineData("slow-fraction", 10, 100, 0, 1.5, 10, 1, 3600)]
    [InlineData("slow-fraction", 10, 100, 0, -0.1, 10, 1, 3600)]
    [InlineData("slow-factor", 10, 100, 0, 0, 0.5, 1, 3600)]
    [InlineData("online-fraction", 10, 100, 0, 0, 10, 0, 3600)]
    [InlineData("online-fraction", 10, 100, 0, 0, 10, 1.1, 3600)]
    [InlineData("availability-period", 10, 100, 0, 0, 10, 0.5, 0)]
    [InlineData("availability-period", 10, 100, 0, 0, 10, 0.5, double.PositiveInfinity)]
    public void Bad_synthetic_settings_name_their_key(
        string key, double gflops, double mbps, double spread, double slowFraction, double slowFactor, double onlineFraction, double period)
    {
        var settings = new SyntheticDevices(gflops, mbps, spread, slowFraction, slowFactor, onlineFraction, period);

        var error = Assert.Throws<SettingsException>(() => DeviceProfiles.Synthetic(settings));

        Assert.Equal(key, error.Key);
        Assert.StartsWith(key + ": ", error.Message);
    }

    [Fact]
    public void The_synthetic_summary_names_the_settings()
    {
        var always = DeviceProfiles.Synthetic(new SyntheticDevices(SlowFraction: 0.3));
        var part = DeviceProfiles.Synthetic(new SyntheticDevices(Spread: 0.5, OnlineFraction: 0.25));

        Assert.Equal("synthetic: 10 GFLOP/s, 100 Mbit/s, spread 0, 30% slow (x10), always online", always.Describe());
        Assert.Equal("synthetic: 10 GFLOP/s, 100 Mbit/s, spread 0.5, 0% slow (x10), online 25% of every 3600 s", part.Describe());
    }

    // ---- Traces ----

    [Fact]
    public void The_example_trace_parses()
    {
        var devices = DeviceProfiles.Parse(new StringReader(ExampleTrace), "devices.csv");

        Assert.Equal(3, devices.Count);
        Assert.Equal(new DeviceProfile(12.5, 20, Availability.Always), devices.For("0"));
        Assert.Equal(new DeviceProfile(3.1, 5, Availability.Of(new[] { (0.0, 3600.0), (7200.0, 10800.0) }, 10800)), devices.For("1"));
        Assert.Equal(new DeviceProfile(8, 50, Availability.Of(new[] { (100.0, 200.0), (300.0, 400.0) }, 400)), devices.For("client-00002"));
        Assert.Equal("trace devices.csv: 3 devices (1 always online)", devices.Describe());
    }

    [Theory]
    [InlineData(0.5, 3600)]
    [InlineData(0.9, 100)]
    [InlineData(1.0, 3600)]
    public void Whether_a_client_is_online_is_what_its_drawn_availability_says(double onlineFraction, double period)
    {
        var devices = DeviceProfiles.Synthetic(new SyntheticDevices(OnlineFraction: onlineFraction, AvailabilityPeriod: period, Seed: 4));

        for (int k = 0; k < 200; k++)
        {
            string id = NumberedClients.Id(k);
            foreach (double time in new[] { 0, 0.5 * period, period - 1e-9, period, 7.25 * period, 123.456 })
            {
                Assert.Equal(devices.For(id).Availability.IsOnline(time), devices.IsOnline(id, time));
            }
        }
    }

    [Fact]
    public void Devices_are_always_online_only_when_no_client_ever_goes_offline()
    {
        var everyone = DeviceProfiles.Parse(new StringReader("""
            client,gflops,mbps,online
            0,1,1,
            1,2,1,
            """), "t");

        Assert.True(DeviceProfiles.Synthetic(new SyntheticDevices()).AlwaysOnline);
        Assert.False(DeviceProfiles.Synthetic(new SyntheticDevices(OnlineFraction: 0.5)).AlwaysOnline);
        Assert.True(everyone.AlwaysOnline);
        Assert.False(DeviceProfiles.Parse(new StringReader(ExampleTrace), "devices.csv").AlwaysOnline);
    }

    [Fact]
    public void Trace_windows_repeat_at_the_end_of_the_last_window_unless_a_period_is_given()
    {
        var devices = DeviceProfiles.Parse(new StringReader("""
            CLIENT, GFlops, Mbps, Online, Period
            0,1,1,0-3600;7200-10800,
            1,1,1,100.5-200,86400
            """), "t");

        var wrapping = devices.For("0").Availability;
        var daily = devices.For("1").Availability;

        Assert.Equal(14_400, wrapping.OnlineUntil(7200), 9);
        Assert.True(wrapping.IsOnline(10_800 + 100));
        Assert.False(wrapping.IsOnline(10_800 + 3600));
        Assert.Equal(86_400, daily.Period);
        Assert.True(daily.IsOnline(86_400 + 150));
        Assert.Equal(86_400 + 100.5, daily.NextOnline(300), 9);
    }

    [Fact]
    public void Clients_map_to_rows_by_id_then_by_index_then_cyclically()
    {
        var devices = DeviceProfiles.Parse(new StringReader("""
            client,gflops,mbps,online
            0,1,1,
            5,2,1,
            client-00005,3,1,
            alice,4,1,
            """), "t");

        Assert.Equal(3, devices.For("client-00005").Gflops);
        Assert.Equal(4, devices.For("alice").Gflops);
        Assert.Equal(2, devices.For("client-5").Gflops);
        Assert.Equal(2, devices.For("5").Gflops);
        Assert.Equal(1, devices.For("client-00000").Gflops);
        // No row has index 6: row 6 mod 4 = 2 in file order; 13 mod 4 = 1.
        Assert.Equal(3, devices.For("client-00006").Gflops);
        Assert.Equal(2, devices.For("client-00013").Gflops);
        Assert.Equal(4, devices.For("client-99999999999999999999").Gflops); // 10^20 - 1 mod 4 = 3, too long for an int
    }

    [Fact]
    public void An_id_without_a_number_maps_to_a_stable_row()
    {
        var devices = DeviceProfiles.Parse(new StringReader("""
            client,gflops,mbps,online
            0,1,1,
            1,2,1,
            2,3,1,
            """), "t");
        int expectedRow = Federation.StableSeed.Mix(0, 0, "bob") % 3;

        Assert.Equal(expectedRow + 1, devices.For("bob").Gflops);
        Assert.Equal(3, Enumerable.Range(0, 60).Select(i => devices.For("name" + (char)('a' + i % 26) + (char)('a' + i / 26)).Gflops).Distinct().Count());
    }

    [Theory]
    [InlineData("client,gflops,mbps\n0,1,1", 1, "expected the header 'client,gflops,mbps,online'")]
    [InlineData("# c\n\nclient,gflops,mbps,online\n0,1,1", 4, "expected 4 columns")]
    [InlineData("client,gflops,mbps,online\n0,1,1,,", 2, "expected 4 columns")]
    [InlineData("client,gflops,mbps,online\n0,fast,1,", 2, "gflops must be a positive number")]
    [InlineData("client,gflops,mbps,online\n0,0,1,", 2, "gflops must be a positive number")]
    [InlineData("client,gflops,mbps,online\n0,1,-5,", 2, "mbps must be a positive number")]
    [InlineData("client,gflops,mbps,online\n0,1,NaN,", 2, "mbps must be a positive number")]
    [InlineData("client,gflops,mbps,online\n0,1,1,\n1,1,1,10..5-20", 3, "'10..5-20' is not start-end")]
    [InlineData("client,gflops,mbps,online\n0,1,1,10", 2, "'10' is not start-end")]
    [InlineData("client,gflops,mbps,online\n0,1,1,-5-10", 2, "not start-end")]
    [InlineData("client,gflops,mbps,online\n0,1,1,0-10;", 2, "stray ';'")]
    [InlineData("client,gflops,mbps,online\n0,1,1,20-10", 2, "'20-10' is empty")]
    [InlineData("client,gflops,mbps,online\n0,1,1,50-60;10-20", 2, "'10-20' starts before '50-60'")]
    [InlineData("client,gflops,mbps,online\n0,1,1,10-60;50-70", 2, "'50-70' overlaps '10-60'")]
    [InlineData("client,gflops,mbps,online,period\n0,1,1,10-60,50", 2, "runs past the period")]
    [InlineData("client,gflops,mbps,online,period\n0,1,1,10-60,0", 2, "period must be a positive number")]
    [InlineData("client,gflops,mbps,online\n3,1,1,\n# x\n3,2,2,", 4, "client 3 is already on line 2")]
    [InlineData("client,gflops,mbps,online\nbob,1,1,\nbob,2,2,", 3, "client 'bob' is already on line 2")]
    [InlineData("client,gflops,mbps,online\n,1,1,", 2, "the client is empty")]
    [InlineData("# only a comment\nclient,gflops,mbps,online\n", 2, "without any device rows")]
    [InlineData("# nothing\n", 1, "without the header")]
    [InlineData("", 1, "without the header")]
    public void Every_trace_error_names_the_line_and_the_problem(string text, int line, string problem)
    {
        var error = Assert.Throws<SettingsException>(() => DeviceProfiles.Parse(new StringReader(text), "bad.csv"));

        Assert.Equal("device-trace", error.Key);
        Assert.StartsWith($"device-trace: bad.csv line {line}: ", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void A_trace_is_read_from_a_file_and_a_missing_file_is_named()
    {
        string path = Path.Combine(Path.GetTempPath(), $"akkafed-devices-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, "\uFEFFclient,gflops,mbps,online\n0,7,70,\n", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        try
        {
            var devices = DeviceProfiles.FromTrace(path);

            Assert.Equal(1, devices.Count);
            Assert.Equal(7, devices.For("client-00041").Gflops);
        }
        finally
        {
            File.Delete(path);
        }

        var error = Assert.Throws<SettingsException>(() => DeviceProfiles.FromTrace(path));
        Assert.Equal($"device-trace: {path}: no such file", error.Message);
    }

    private static IEnumerable<string> Ids(int count) => Enumerable.Range(0, count).Select(i => $"client-{i:D5}");
}

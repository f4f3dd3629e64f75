using AkkaFed.Model.Federation;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class FedBuffTests
{
    private static ClientUpdate Update(string id, float value, int examples = 10) => new(id, new[] { value, -value }, examples, 0.5, 0.25);

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(3, 0.5)]
    [InlineData(8, 1 / 3.0)]
    public void The_default_staleness_weight_is_one_over_the_square_root_of_one_plus_staleness(int staleness, double weight)
    {
        Assert.Equal(weight, new FedBuffOptions().StalenessWeight(staleness), 12);
    }

    [Fact]
    public void The_buffer_weights_each_update_by_its_examples_and_its_staleness_and_divides_by_the_examples()
    {
        var buffer = new StalenessBuffer(new FedBuffOptions(BufferSize: 2), ClientWeighting.NumExamples, parameters: 2);

        Assert.True(buffer.Add(Update("a", 1f, examples: 10), staleness: 0));
        Assert.False(buffer.IsFull);
        Assert.True(buffer.Add(Update("b", 1f, examples: 30), staleness: 3));

        Assert.True(buffer.IsFull);
        // (10 * 1 * 1 + 30 * 0.5 * 1) / 40 = 0.625
        Assert.Equal(new[] { 0.625f, -0.625f }, buffer.Combine());
        Assert.Equal(3, buffer.TotalStaleness);
    }

    [Fact]
    public void An_update_staler_than_max_staleness_is_dropped_and_a_wrong_length_is_refused()
    {
        var buffer = new StalenessBuffer(new FedBuffOptions(MaxStaleness: 2), ClientWeighting.Uniform, parameters: 2);

        Assert.False(buffer.Add(Update("a", 1f), staleness: 3));
        Assert.Equal(0, buffer.Count);
        Assert.Throws<ArgumentException>(() => buffer.Add(new ClientUpdate("b", new[] { 1f }, 1, 0, 0), 0));
        Assert.Throws<InvalidOperationException>(() => buffer.Combine());
    }

    [Theory]
    [InlineData(0, 10, 10, 0.5, "concurrency")]
    [InlineData(5, 0, 10, 0.5, "buffer-size")]
    [InlineData(5, 5, -1, 0.5, "max-staleness")]
    [InlineData(5, 5, 5, -1, "staleness-exponent")]
    public void Settings_out_of_range_are_refused_by_name(int concurrency, int bufferSize, int maxStaleness, double exponent, string key)
    {
        var error = Assert.Throws<SettingsException>(() => new FedBuffOptions(concurrency, bufferSize, maxStaleness, exponent).Validate());
        Assert.Equal(key, error.Key);
    }

    private static SimulatedClock Clock(SyntheticDevices devices, SimulatedFaults? faults = null) =>
        new(DeviceProfiles.Synthetic(devices), faults ?? SimulatedFaults.None, ForwardFlops: 1_000_000);

    private static readonly string[] Clients = Enumerable.Range(0, 30).Select(i => $"client-{i:D5}").ToArray();

    [Fact]
    public void The_schedule_keeps_concurrency_clients_in_flight_and_hands_them_out_in_order_of_simulated_time()
    {
        var schedule = new AsyncSchedule(Clock(new SyntheticDevices(Spread: 1, Seed: 1)), concurrency: 5, deadline: 100, seed: 1, now: 0);

        var sent = schedule.Fill(Clients, version: 1, _ => 100, epochs: 1, modelBytes: 1_000_000);

        Assert.Equal(5, sent.Count);
        Assert.Equal(5, sent.Select(s => s.ClientId).Distinct().Count());
        Assert.Empty(schedule.Fill(Clients, 1, _ => 100, 1, 1_000_000));
        var order = new List<InFlight>();
        while (schedule.Next is not null)
        {
            order.Add(schedule.Pop());
            Assert.Equal(order[^1].End, schedule.Now);
        }
        Assert.Equal(order.OrderBy(e => e.End).Select(e => e.ClientId), order.Select(e => e.ClientId));
        Assert.All(order, e => Assert.Equal(Dispatch.Delivers, e.Outcome));
    }

    [Fact]
    public void A_client_past_the_deadline_or_dropping_out_holds_its_slot_until_the_deadline_and_is_not_trained()
    {
        var slow = new AsyncSchedule(Clock(new SyntheticDevices(SlowFraction: 1, SlowFactor: 1000)), 3, deadline: 2, seed: 1, now: 10);
        var dropping = new AsyncSchedule(Clock(new SyntheticDevices(), new SimulatedFaults(DropoutFraction: 1)), 3, deadline: 2, seed: 1, now: 10);

        Assert.All(slow.Fill(Clients, 1, _ => 100, 1, 1_000_000), e => Assert.Equal((Dispatch.PastDeadline, 12.0), (e.Outcome, e.End)));
        Assert.All(dropping.Fill(Clients, 1, _ => 100, 1, 1_000_000), e => Assert.Equal((Dispatch.DropsOut, 12.0), (e.Outcome, e.End)));
    }

    [Fact]
    public void The_same_settings_dispatch_the_same_clients_at_the_same_times()
    {
        IEnumerable<InFlight> Run()
        {
            var schedule = new AsyncSchedule(Clock(new SyntheticDevices(Spread: 0.5, Seed: 3)), 4, 100, seed: 9, now: 0);
            var events = new List<InFlight>(schedule.Fill(Clients, 1, _ => 50, 1, 100_000));
            for (int i = 0; i < 20; i++)
            {
                schedule.Pop();
                events.AddRange(schedule.Fill(Clients, 1 + i / 5, _ => 50, 1, 100_000));
            }
            return events;
        }

        Assert.Equal(Run(), Run());
    }

    /// <summary>Numbered ids made as they are read, counting the reads; enumerating them all is refused.</summary>
    private sealed class CountedIds(int count) : IReadOnlyList<string>
    {
        public int Reads { get; private set; }

        public int Count => count;

        public string this[int index]
        {
            get
            {
                Reads++;
                return NumberedClients.Id(index);
            }
        }

        public IEnumerator<string> GetEnumerator() => throw new InvalidOperationException("every registered client was read");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public void Filling_a_slot_draws_a_few_registered_clients_and_never_reads_them_all()
    {
        var registered = new CountedIds(1_000_000);
        var schedule = new AsyncSchedule(Clock(new SyntheticDevices(OnlineFraction: 0.5, AvailabilityPeriod: 100, Seed: 4)), 100, 1000, seed: 5, now: 0);

        var sent = schedule.Fill(registered, 1, _ => 10, 1, 1000).ToList();
        for (int i = 0; i < 100; i++)
        {
            schedule.Pop();
            sent.AddRange(schedule.Fill(registered, 2, _ => 10, 1, 1000));
        }

        Assert.Equal(200, sent.Count);
        // Half are online: about two draws a slot.
        Assert.InRange(registered.Reads, 200, 2_000);
    }

    [Fact]
    public void Clients_are_drawn_evenly_from_those_idle_and_online_and_a_full_house_is_found_by_a_scan()
    {
        var clock = Clock(new SyntheticDevices(OnlineFraction: 0.5, AvailabilityPeriod: 2, Seed: 6));
        var schedule = new AsyncSchedule(clock, concurrency: 10, deadline: 1000, seed: 3, now: 0);
        var picks = new Dictionary<string, int>();
        var sent = schedule.Fill(Clients, 1, _ => 1000, 1, 1000).ToList();
        for (int i = 0; i < 3000; i++)
        {
            foreach (var entry in sent)
            {
                Assert.True(clock.IsOnline(entry.ClientId, entry.Start), $"{entry.ClientId} was offline at {entry.Start}");
                Assert.Equal(1, schedule.InFlightClients.Count(id => id == entry.ClientId));
                picks[entry.ClientId] = picks.GetValueOrDefault(entry.ClientId) + 1;
            }
            schedule.Pop();
            sent = schedule.Fill(Clients, 1, _ => 1000, 1, 1000).ToList();
        }

        // Every client is online half the time (in windows of 2 simulated seconds, a dispatch taking 0.3), so each is
        // sent about one in thirty of the dispatches.
        Assert.Equal(Clients.Length, picks.Count);
        Assert.All(picks.Values, count => Assert.InRange(count, 3000 / 30 / 2, 3000 / 30 * 2));

        // Thirty clients, thirty slots: the last ones are found however unlikely a draw is to hit them.
        var full = new AsyncSchedule(Clock(new SyntheticDevices()), concurrency: 30, deadline: 1000, seed: 3, now: 0);
        Assert.Equal(Clients.Order(StringComparer.Ordinal), full.Fill(Clients, 1, _ => 10, 1, 1000).Select(e => e.ClientId).Order(StringComparer.Ordinal));
        Assert.Empty(full.Fill(Clients, 1, _ => 10, 1, 1000));
    }

    [Fact]
    public void With_nobody_online_the_schedule_waits_for_the_first_client_to_come_online()
    {
        var clock = Clock(new SyntheticDevices(OnlineFraction: 0.1, AvailabilityPeriod: 100, Seed: 2));
        string[] one = { "client-00007" };
        double offline = Enumerable.Range(0, 1000).Select(t => t * 0.1).First(t => !clock.IsOnline(one[0], t));
        var schedule = new AsyncSchedule(clock, 1, 10, 1, now: offline);

        Assert.Empty(schedule.Fill(one, 1, _ => 10, 1, 1000));
        Assert.True(schedule.WaitForSomeoneOnline(one));
        Assert.True(clock.IsOnline(one[0], schedule.Now));
        Assert.Single(schedule.Fill(one, 1, _ => 10, 1, 1000));
    }
}

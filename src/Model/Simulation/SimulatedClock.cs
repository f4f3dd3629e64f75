using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;

namespace AkkaFed.Model.Simulation;

/// <summary>
/// How long one selected client takes in a phase of a round, in simulated seconds from the phase's start, and
/// whether it goes away before it is done (an injected dropout, or its device going offline).
/// </summary>
public readonly record struct ClientTiming(string ClientId, double Seconds, bool DropsOut);

/// <summary>
/// What the simulated clock makes of one phase (training or evaluation) of a round: the clients that are asked
/// (the first <c>keep</c> to finish within the deadline, in selection order), those that would finish after the
/// deadline or after the first <c>keep</c> (stragglers: never asked, since their answer would be discarded), those
/// that drop out, and how long the phase lasts.
/// </summary>
public sealed record PhasePlan(
    IReadOnlyList<string> Asked,
    IReadOnlyList<string> PastDeadline,
    IReadOnlyList<string> DroppedOut,
    double Seconds)
{
    /// <summary>
    /// The plan for <paramref name="timings"/> (in selection order): the phase ends when the first
    /// <paramref name="keep"/> clients have finished, or at <paramref name="deadline"/> if fewer finish by then. Ties
    /// in finishing time go to the earlier selected, so the plan is a pure function of its inputs.
    /// </summary>
    public static PhasePlan Of(IReadOnlyList<ClientTiming> timings, int keep, double deadline)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        var onTime = timings
            .Select((timing, index) => (timing, index))
            .Where(t => !t.timing.DropsOut && t.timing.Seconds <= deadline)
            .OrderBy(t => t.timing.Seconds).ThenBy(t => t.index)
            .Take(keep)
            .ToList();
        var asked = onTime.OrderBy(t => t.index).Select(t => t.timing.ClientId).ToArray();
        var askedSet = asked.ToHashSet(StringComparer.Ordinal);
        var dropped = timings.Where(t => t.DropsOut).Select(t => t.ClientId).ToArray();
        var late = timings.Where(t => !t.DropsOut && !askedSet.Contains(t.ClientId)).Select(t => t.ClientId).ToArray();
        double seconds = keep > 0 && onTime.Count == keep ? onTime.Max(t => t.timing.Seconds) : deadline;
        return new PhasePlan(asked, late, dropped, seconds);
    }
}

/// <summary>
/// The virtual clock of a simulation (after FedScale's): a selected client's round time is its compute (samples ×
/// epochs × the model's training cost per sample ÷ its device's speed), plus its communication (the model down and
/// the update up at its bandwidth), plus any injected straggler delay. Deadlines, quorums and availability are
/// judged on this time, never on the host's, so a run gives the same result on any machine under any load.
/// Every method is a pure function of its arguments and the clock's settings.
/// </summary>
/// <param name="Devices">Each client's device and availability.</param>
/// <param name="Faults">Injected stragglers (a delay on top of the device's time) and dropouts.</param>
/// <param name="ForwardFlops">One sample's forward pass (<see cref="Architectures.ForwardFlops"/>).</param>
public sealed record SimulatedClock(DeviceProfiles Devices, SimulatedFaults Faults, long ForwardFlops)
{
    /// <summary>Training a sample costs its forward pass and a backward pass of about twice that.</summary>
    public const int TrainingCostFactor = 3;

    public static SimulatedClock For(ModelKind model, DeviceProfiles devices, SimulatedFaults faults) =>
        new(devices, faults, Architectures.ForwardFlops(model));

    /// <summary>Whether <paramref name="clientId"/> can be selected at simulated time <paramref name="time"/>.</summary>
    public bool IsOnline(ReadOnlySpan<char> clientId, double time) => Devices.IsOnline(clientId, time);

    /// <summary>Whether every client is online at every time (<see cref="DeviceProfiles.AlwaysOnline"/>).</summary>
    public bool AlwaysOnline => Devices.AlwaysOnline;

    /// <summary>
    /// Client <paramref name="clientId"/> trains <paramref name="examples"/> samples for <paramref name="epochs"/>
    /// epochs of round <paramref name="round"/>, which starts at <paramref name="start"/>; the model is
    /// <paramref name="modelBytes"/> down and the update <paramref name="updateBytes"/> up (as many as the model
    /// when not given; fewer when compressed).
    /// </summary>
    public ClientTiming Train(int round, string clientId, int examples, int epochs, long modelBytes, double start, long? updateBytes = null)
    {
        var device = Devices.For(clientId);
        var fault = Faults.For(round, clientId);
        double seconds = Compute(device, (double)examples * epochs * TrainingCostFactor)
            + Transfer(device, modelBytes + (updateBytes ?? modelBytes))
            + (fault == FaultKind.Straggle ? Faults.StragglerDelay.TotalSeconds : 0);
        return Timed(clientId, device, start, seconds, fault == FaultKind.Drop);
    }

    /// <summary>Client <paramref name="clientId"/> evaluates the new model (<paramref name="modelBytes"/> down) on <paramref name="examples"/> samples.</summary>
    public ClientTiming Evaluate(string clientId, int examples, long modelBytes, double start)
    {
        var device = Devices.For(clientId);
        return Timed(clientId, device, start, Compute(device, examples) + Transfer(device, modelBytes), dropsOut: false);
    }

    private double Compute(DeviceProfile device, double forwardPasses) => forwardPasses * ForwardFlops / (device.Gflops * 1e9);

    private static double Transfer(DeviceProfile device, long bytes) => bytes * 8.0 / (device.Mbps * 1e6);

    /// <summary>A device that goes offline before it is done drops out when it goes.</summary>
    private static ClientTiming Timed(string clientId, DeviceProfile device, double start, double seconds, bool dropsOut)
    {
        double offline = device.Availability.OnlineUntil(start);
        return dropsOut || start + seconds > offline
            ? new ClientTiming(clientId, Math.Min(seconds, offline - start), DropsOut: true)
            : new ClientTiming(clientId, seconds, DropsOut: false);
    }
}

using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>
/// Every strategy over five rounds of fixed random updates, with failures and federated evaluation, pinned to
/// the bit: a fingerprint of everything a round produces (the clients asked, their training options, the next
/// weights, the optimizer and privacy state, epsilon, the evaluators and their aggregate). The values were taken
/// from the strategies before they were recomposed, so a change to any result shows here.
/// </summary>
public sealed class StrategyPinnedResultsTests
{
    private const int Length = 1003;
    private const int Seed = 5;
    private static readonly string[] Available = Enumerable.Range(0, 12).Select(i => $"c{i:D2}").ToArray();

    private static readonly PrivacyOptions Fixed = new(ClipNorm: 0.3, NoiseMultiplier: 1.1);
    private static readonly PrivacyOptions Adaptive = new(ClipNorm: 0.3, NoiseMultiplier: 1.1, Adaptive: true,
        TargetQuantile: 0.6, ClipLearningRate: 0.3, ClippedCountStddev: 2);

    public static TheoryData<string> Cases => new(Options.Keys);

    private static readonly Dictionary<string, (StrategyOptions Strategy, ClientWeighting Weighting, double Fraction, int MinClients, double ServerLr)> Options = new()
    {
        ["fedavg"] = (new StrategyOptions(), ClientWeighting.NumExamples, 1.0, 1, 1.0),
        ["fedavg-uniform-lr"] = (new StrategyOptions(EvaluateFraction: 0.3), ClientWeighting.Uniform, 0.5, 2, 0.7),
        ["fedavg-bounded"] = (new StrategyOptions(NormBound: 0.5, EvaluateFraction: 1), ClientWeighting.NumExamples, 0.5, 3, 1.0),
        ["fedsgd"] = (new StrategyOptions("fedsgd"), ClientWeighting.NumExamples, 0.5, 2, 1.0),
        ["fedprox"] = (new StrategyOptions("fedprox", ProximalMu: 0.1), ClientWeighting.NumExamples, 0.5, 2, 1.0),
        ["fedavgm"] = (new StrategyOptions("fedavgm", ServerMomentum: 0.9), ClientWeighting.NumExamples, 0.5, 2, 0.8),
        ["fedadagrad"] = (new StrategyOptions("fedadagrad", Beta1: 0.8, Tau: 0.01), ClientWeighting.NumExamples, 0.5, 2, 0.05),
        ["fedadam"] = (new StrategyOptions("fedadam", Beta1: 0.85, Beta2: 0.95, Tau: 0.01), ClientWeighting.NumExamples, 0.5, 2, 0.05),
        ["fedyogi"] = (new StrategyOptions("fedyogi", Tau: 0.02, EvaluateFraction: 0.5), ClientWeighting.Uniform, 0.5, 2, 0.05),
        ["median"] = (new StrategyOptions(Aggregator: AggregatorKind.Median), ClientWeighting.NumExamples, 0.5, 3, 1.0),
        ["trimmed-mean"] = (new StrategyOptions("fedavgm", ServerMomentum: 0.5, Aggregator: AggregatorKind.TrimmedMean, TrimmedFraction: 0.2), ClientWeighting.NumExamples, 0.5, 3, 1.0),
        ["krum"] = (new StrategyOptions(Aggregator: AggregatorKind.Krum, KrumByzantine: 1, NormBound: 0.4), ClientWeighting.NumExamples, 0.5, 5, 1.0),
        ["multi-krum"] = (new StrategyOptions("fedadam", Aggregator: AggregatorKind.MultiKrum, KrumByzantine: 1, KrumKeep: 3), ClientWeighting.NumExamples, 0.5, 5, 0.05),
        ["dp-fixed"] = (new StrategyOptions(Privacy: Fixed), ClientWeighting.NumExamples, 0.5, 2, 1.0),
        ["dp-noiseless"] = (new StrategyOptions(Privacy: new PrivacyOptions(ClipNorm: 0.3)), ClientWeighting.NumExamples, 0.5, 2, 1.0),
        ["dp-adaptive"] = (new StrategyOptions(Privacy: Adaptive, EvaluateFraction: 0.25), ClientWeighting.NumExamples, 0.5, 2, 1.0),
        ["dp-adaptive-noiseless"] = (new StrategyOptions(Privacy: new PrivacyOptions(ClipNorm: 0.3, Adaptive: true)), ClientWeighting.NumExamples, 1.0, 2, 1.0),
        ["dp-fedadam"] = (new StrategyOptions("fedadam", Privacy: Fixed), ClientWeighting.NumExamples, 0.5, 2, 0.05),
        ["dp-fedprox-bounded"] = (new StrategyOptions("fedprox", ProximalMu: 0.01, NormBound: 0.1, Privacy: Fixed), ClientWeighting.Uniform, 0.5, 2, 1.0),
    };

    private static readonly Dictionary<string, string> Pinned = new()
    {
        ["dp-adaptive"] = "b99e3fc053473f4b",
        ["dp-adaptive-noiseless"] = "17b4835a107717b6",
        ["dp-fedadam"] = "eb12273022d78992",
        ["dp-fedprox-bounded"] = "9fa2df649fed90bd",
        ["dp-fixed"] = "661f19ea9037f347",
        ["dp-noiseless"] = "69be0f48f01bc369",
        ["fedadagrad"] = "ff7cbba648acb099",
        ["fedadam"] = "a456bfcfc641f4b6",
        ["fedavg"] = "6806427d1d537d8f",
        ["fedavg-bounded"] = "18759267aae5fa15",
        ["fedavg-uniform-lr"] = "9ec6887d8c96cdcc",
        ["fedavgm"] = "2455cadf0d8566fe",
        ["fedprox"] = "7ad564020773d771",
        ["fedsgd"] = "ee09ce735e13c25b",
        ["fedyogi"] = "9c050eba9f52ff71",
        ["krum"] = "1ad1859eb8ea46d0",
        ["median"] = "cc2eb35445f4dc56",
        ["multi-krum"] = "7b4bccc43503ccb7",
        ["trimmed-mean"] = "ee27dd9bda6585a8",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Five_rounds_give_the_pinned_results_to_the_bit(string name)
    {
        var (options, weighting, fraction, minClients, serverLr) = Options[name];
        var strategy = Build(options, fraction, minClients, weighting, serverLr);

        string fingerprint = Fingerprint(strategy);

        Assert.True(Pinned.TryGetValue(name, out var pinned) && pinned == fingerprint, $"[\"{name}\"] = \"{fingerprint}\",");
    }

    private static IStrategy Build(StrategyOptions options, double fraction, int minClients, ClientWeighting weighting, double serverLr) =>
        Strategies.Create(options.Validate(minClients), fraction, minClients, weighting, serverLr, new LocalTrainingOptions(2, 16, 0.05), Seed);

    private static string Fingerprint(IStrategy strategy)
    {
        var random = new Random(3);
        var state = new FederatedState(1, Enumerable.Range(0, Length).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray());
        using var bytes = new MemoryStream();
        using var writer = new BinaryWriter(bytes);
        for (int round = 1; round <= 5; round++)
        {
            var plan = strategy.ConfigureFit(round, Available);
            foreach (var id in plan.Clients)
            {
                writer.Write(id);
            }
            writer.Write(plan.Options.Epochs);
            writer.Write(plan.Options.BatchSize);
            writer.Write(plan.Options.LearningRate);
            writer.Write(plan.Options.ProximalMu);

            // The last client asked fails in odd rounds; the others arrive in a shuffled order.
            int failing = round % 2 == 1 ? 1 : 0;
            var updates = plan.Clients.Take(plan.Clients.Count - failing).Select(id => Update(id, round)).ToArray();
            var failures = plan.Clients.Skip(plan.Clients.Count - failing).Select(id => new ClientFailure(id, "gone")).ToArray();
            new Random(round).Shuffle(updates);
            using (var aggregation = strategy.BeginFit(state, plan.Clients))
            {
                foreach (var update in updates)
                {
                    aggregation.Add(update);
                }
                writer.Write(aggregation.RetainedDeltas);
                state = aggregation.Finish(failures, Available.Length);
            }
            writer.Write(state.Round);
            Write(writer, state.Weights);
            foreach (var slot in state.Optimizer.Slots)
            {
                Write(writer, slot);
            }
            writer.Write(state.Privacy?.ClipNorm ?? -1);
            writer.Write(state.Privacy?.Ledger.Rounds ?? -1);
            writer.Write(strategy.Epsilon(state) ?? -1);

            var evaluators = strategy.ConfigureEvaluate(round, Available);
            var evaluations = evaluators.Select(id =>
            {
                var draw = new Random(StableSeed.Mix(9, round, id));
                writer.Write(id);
                return new Evaluation(draw.NextDouble() * 3, draw.NextDouble(), draw.Next(1, 500));
            }).ToArray();
            var federated = strategy.AggregateEvaluate(round, evaluations, Array.Empty<ClientFailure>());
            writer.Write(federated?.Loss ?? -1);
            writer.Write(federated?.Accuracy ?? -1);
            writer.Write(federated?.Examples ?? -1);
        }
        writer.Flush();
        ulong hash = 14695981039346656037UL;
        foreach (byte b in bytes.ToArray())
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return hash.ToString("x16");
    }

    private static ClientUpdate Update(string id, int round)
    {
        var draw = new Random(StableSeed.Mix(77, round, id));
        // Norms from about 0.1 to 0.9: some above the clip norm and norm bounds, some below.
        double scale = 0.01 + 0.04 * draw.NextDouble();
        var delta = Enumerable.Range(0, Length).Select(_ => (float)((draw.NextDouble() - 0.5) * scale)).ToArray();
        return new ClientUpdate(id, delta, draw.Next(5, 600), Loss: 1, Accuracy: 0.5);
    }

    private static void Write(BinaryWriter writer, float[] values)
    {
        foreach (float value in values)
        {
            writer.Write(BitConverter.SingleToInt32Bits(value));
        }
    }
}

using Akka.Configuration;
using AkkaFed.Host;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using Xunit;

namespace AkkaFed.Host.Tests;

public sealed class SettingsTests
{
    private static FederationSettings With(params (string Key, string Value)[] overrides) =>
        FederationSettings.Create(ConfigLoader.Load(null, overrides.ToDictionary(o => o.Key, o => o.Value)));

    [Fact]
    public void The_defaults_are_the_tff_tutorial()
    {
        var settings = With();

        Assert.Equal("mnist", settings.Dataset);
        Assert.Equal(ModelKind.Cnn, settings.Model);
        Assert.Equal(PartitionKind.Contiguous, settings.Partition);
        Assert.Equal(80, settings.Clients);
        Assert.Equal(100, settings.SamplesPerClient);
        Assert.Equal(10, settings.Rounds);
        Assert.Equal(1.0, settings.Server.Fraction);
        Assert.Equal(20, settings.Server.Local.BatchSize);
        Assert.Equal(1, settings.Server.Local.Epochs);
        Assert.Equal(0.02, settings.Server.Local.LearningRate);
        Assert.Equal(1.0, settings.Server.ServerLearningRate);
        Assert.Equal(ClientWeighting.NumExamples, settings.Server.Weighting);
    }

    [Theory]
    [InlineData("min-clients", "100", "min-clients (100) is more than clients (80)")]
    [InlineData("client-fraction", "0", "client-fraction must be in (0, 1]")]
    [InlineData("client-fraction", "1.5", "client-fraction must be in (0, 1]")]
    [InlineData("round-deadline", "-5s", "round-deadline must be positive")]
    [InlineData("round-deadline", "soon", "round-deadline must be a duration")]
    [InlineData("rounds", "ten", "rounds must be a whole number, got 'ten'")]
    [InlineData("rounds", "0", "rounds must be at least 1")]
    [InlineData("client-lr", "-0.1", "client-lr must be positive")]
    [InlineData("model", "resnet", "model must be one of cnn, mcmahan-cnn, 2nn")]
    [InlineData("partition", "random", "partition must be one of")]
    [InlineData("client-weighting", "by-size", "client-weighting must be one of num_examples, uniform")]
    [InlineData("dropout-fraction", "2", "dropout-fraction must be in [0, 1]")]
    [InlineData("dataset", "idx", "dataset = idx needs data-dir")]
    [InlineData("proximal-mu", "-0.1", "proximal-mu must be zero or positive")]
    [InlineData("proximal-mu", "0.1", "proximal-mu is FedProx's")]
    [InlineData("trimmed-fraction", "0.5", "trimmed-fraction must be in [0, 0.5)")]
    [InlineData("strategy", "fedsomething", "strategy must be one of fedavg, fedsgd")]
    [InlineData("aggregator", "mode", "aggregator must be one of mean, median")]
    [InlineData("attack", "bribe", "attack must be one of none, sign-flip")]
    [InlineData("dp-noise-multiplier", "1.0", "dp-noise-multiplier = 1 needs dp-clip-norm")]
    [InlineData("dp-clip-norm", "-1", "dp-clip-norm must be zero (off) or positive")]
    [InlineData("dp-adaptive", "maybe", "dp-adaptive must be true or false")]
    public void Contradictory_or_malformed_settings_are_refused_naming_the_setting(string key, string value, string message)
    {
        var error = Assert.Throws<SettingsException>(() => With((key, value)));

        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void A_server_momentum_outside_0_1_is_refused_for_fedavgm()
    {
        var error = Assert.Throws<SettingsException>(() => With(("strategy", "fedavgm"), ("server-momentum", "1.5")));

        Assert.Contains("server-momentum", error.Message);
    }

    [Fact]
    public void Krum_with_too_few_clients_for_the_assumed_attackers_is_refused()
    {
        var error = Assert.Throws<SettingsException>(() =>
            With(("aggregator", "krum"), ("krum-byzantine", "2"), ("min-clients", "5")));

        Assert.Contains("krum-byzantine = 2 needs at least 2 * 2 + 3 = 7 updates per round, but min-clients is 5", error.Message);
    }

    [Fact]
    public void Windows_give_more_clients_than_the_dataset_has_samples_a_view_each()
    {
        var settings = With(("dataset", "synthetic"), ("partition", "windows"), ("clients", "50000"), ("samples-per-client", "20"));
        var data = settings.LoadData(_ => { });

        var shards = settings.Partitions(data);

        Assert.True(50_000 * 20 > data.Train.Count);
        Assert.Equal(50_000, shards.Count);
        Assert.All(shards, shard => Assert.Equal(20, shard.Length));
        Assert.Equal(data.Train.Count + 20 - 1, shards.Indices.Length);
    }

    [Fact]
    public void A_strategy_is_chosen_by_name_with_its_settings()
    {
        var settings = With(("strategy", "fedprox"), ("proximal-mu", "0.01"), ("aggregator", "trimmed-mean"), ("trimmed-fraction", "0.2"));

        Assert.Equal("fedprox", settings.Server.Strategy.Name);
        Assert.Equal(0.01, settings.Server.Strategy.ProximalMu);
        Assert.Equal(AggregatorKind.TrimmedMean, settings.Server.Strategy.Aggregator);
        Assert.Equal(0.01, settings.Server.CreateStrategy().ConfigureFit(1, new[] { "a" }).Options.ProximalMu);
    }

    [Fact]
    public void The_command_line_wins_over_the_file_which_wins_over_the_defaults()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "akkafed { rounds = 4, clients = 20, model = 2nn }");
        try
        {
            var settings = FederationSettings.Create(ConfigLoader.Load(file, new Dictionary<string, string> { ["rounds"] = "7" }));

            Assert.Equal(7, settings.Rounds);
            Assert.Equal(20, settings.Clients);
            Assert.Equal(ModelKind.TwoNN, settings.Model);
            Assert.Equal(100, settings.SamplesPerClient);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_missing_or_broken_config_file_is_named()
    {
        var missing = Assert.Throws<SettingsException>(() => ConfigLoader.Load("/nonexistent/x.conf", new Dictionary<string, string>()));
        Assert.Contains("/nonexistent/x.conf", missing.Message);

    }

    [Theory]
    [InlineData("akkafed { rounds = 3", "line 1: '{' is never closed")]
    [InlineData("akkafed {\n rounds = 3 }\n}", "line 3: unexpected '}'")]
    [InlineData("akkafed.output = \"out\nakkafed.rounds = 2", "line 1: unterminated string")]
    [InlineData("a = ${missing}", "missing")]
    public void A_broken_config_file_is_named_with_the_problem(string text, string problem)
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, text);
        try
        {
            var broken = Assert.Throws<SettingsException>(() => ConfigLoader.Load(file, new Dictionary<string, string>()));
            Assert.Contains(file, broken.Message);
            Assert.Contains(problem, broken.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Comments_and_strings_may_hold_brackets()
    {
        ConfigLoader.CheckStructure("# a { comment\nakkafed { output = \"a}b\" // ]\n doc = \"\"\"x\n{\"\"\" }");
    }

    [Fact]
    public void Every_shipped_hocon_file_is_valid()
    {
        var folder = Path.Combine(RepositoryRoot(), "hocon");
        foreach (var file in Directory.EnumerateFiles(folder, "*.conf"))
        {
            var config = ConfigurationFactory.ParseString(File.ReadAllText(file));
            if (config.HasPath("akkafed.rounds"))
            {
                FederationSettings.Create(config.WithFallback(FederationSettings.Defaults()));
            }
        }
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AkkaFed.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("AkkaFed.sln not found above the test folder");
    }
}

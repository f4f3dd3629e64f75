using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using AkkaFed.Model;
using AkkaFed.Model.Data;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>model.pt and model.safetensors: written, read back, refused with a clear line when they do not fit.</summary>
public sealed class ModelFilesTests
{
    public static TheoryData<ModelKind> Kinds => new() { ModelKind.Cnn, ModelKind.McMahanCnn, ModelKind.TwoNN };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Both_files_load_back_the_very_weights_they_were_written_from(ModelKind kind)
    {
        using var folder = new TempDirectory();
        var weights = InitialWeights.Create(kind, seed: 5);

        var (stateDict, safetensors) = ModelFiles.Save(kind, weights, folder.Path);

        Assert.Equal(folder.File("model.pt"), stateDict);
        Assert.Equal(folder.File("model.safetensors"), safetensors);
        Assert.Equal(weights, ModelFiles.Load(kind, stateDict));
        Assert.Equal(weights, ModelFiles.Load(kind, safetensors));
    }

    [Fact]
    public void The_parameter_names_are_those_of_the_PyTorch_modules()
    {
        Assert.Equal(new[] { "conv.weight", "conv.bias", "fc.weight", "fc.bias" },
            StateDict.Layout(ModelKind.Cnn).Select(p => p.Name));
        Assert.Equal(new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" },
            StateDict.Layout(ModelKind.McMahanCnn).Select(p => p.Name));
        Assert.Equal(new[] { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias" },
            StateDict.Layout(ModelKind.TwoNN).Select(p => p.Name));
        Assert.Equal(new long[] { 10, 32 * 13 * 13 }, StateDict.Layout(ModelKind.Cnn)[2].Shape);
    }

    [Fact]
    public void The_same_weights_give_the_same_bytes_with_no_time_of_writing_in_them()
    {
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        var weights = InitialWeights.Create(ModelKind.Cnn, seed: 1);

        ModelFiles.Save(ModelKind.Cnn, weights, first.Path);
        ModelFiles.Save(ModelKind.Cnn, weights, second.Path);

        Assert.Equal(File.ReadAllBytes(first.File("model.pt")), File.ReadAllBytes(second.File("model.pt")));
        Assert.Equal(File.ReadAllBytes(first.File("model.safetensors")), File.ReadAllBytes(second.File("model.safetensors")));
        // Two saves within the zip format's 2-second clock would match anyway: the dates themselves are fixed.
        using var archive = ZipFile.OpenRead(first.File("model.pt"));
        Assert.All(archive.Entries, entry => Assert.Equal(1980, entry.LastWriteTime.Year));
    }

    [Theory]
    [InlineData("model.pt")]
    [InlineData("model.safetensors")]
    public void Another_architectures_file_is_refused_naming_the_file_and_the_names(string name)
    {
        using var folder = new TempDirectory();
        ModelFiles.Save(ModelKind.Cnn, InitialWeights.Create(ModelKind.Cnn, seed: 1), folder.Path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(ModelKind.TwoNN, folder.File(name)));

        Assert.StartsWith($"{folder.File(name)}: not a 2nn state dict: missing fc1.weight, fc1.bias", error.Message);
        Assert.Contains("unexpected conv.bias, conv.weight, fc.bias, fc.weight", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_parameter_of_the_wrong_shape_is_refused_naming_it_and_both_shapes()
    {
        using var folder = new TempDirectory();
        string path = folder.File("odd.safetensors");
        // A cnn whose fc layer has 11 outputs: the names fit, the shapes do not.
        using var scope = TorchSharp.torch.NewDisposeScope();
        var tensors = new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["conv.weight"] = TorchSharp.torch.zeros(32, 1, 3, 3),
            ["conv.bias"] = TorchSharp.torch.zeros(32),
            ["fc.weight"] = TorchSharp.torch.zeros(11, 32 * 13 * 13),
            ["fc.bias"] = TorchSharp.torch.zeros(11),
        };
        using (var file = File.Create(path))
        {
            TorchSharp.PyBridge.Safetensors.SaveStateDict(file, tensors);
        }

        var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(ModelKind.Cnn, path));

        Assert.Equal($"{path}: not a cnn state dict: fc.weight has shape [11, 5408], a cnn needs [10, 5408]", error.Message);
    }

    [Theory]
    [InlineData("model.pt")]
    [InlineData("model.safetensors")]
    public void A_cut_short_file_is_refused_in_one_line_naming_the_file(string name)
    {
        using var folder = new TempDirectory();
        ModelFiles.Save(ModelKind.Cnn, InitialWeights.Create(ModelKind.Cnn, seed: 1), folder.Path);
        string path = folder.File(name);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(ModelKind.Cnn, path));

        Assert.Matches($"^{Regex.Escape(path)}: not a readable (PyTorch state dict|safetensors file), (corrupt or )?cut short", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_corrupt_state_dict_is_refused_in_one_line_naming_the_file()
    {
        using var folder = new TempDirectory();
        ModelFiles.Save(ModelKind.Cnn, InitialWeights.Create(ModelKind.Cnn, seed: 1), folder.Path);
        string path = folder.File("model.pt");
        // Garble the pickle in the middle of the archive: the zip's directory survives, its data.pkl does not.
        using (var archive = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = archive.GetEntry("model/data.pkl")!;
            entry.Delete();
            using var garbled = new StreamWriter(archive.CreateEntry("model/data.pkl").Open());
            garbled.Write("\u0080\u0002}q\u0000(X not a pickle");
        }

        var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(ModelKind.Cnn, path));

        Assert.StartsWith($"{path}: not a readable PyTorch state dict, corrupt or cut short (", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_file_of_another_format_is_refused_naming_both_formats()
    {
        using var folder = new TempDirectory();
        string path = folder.File("notes.txt");
        File.WriteAllText(path, "these are not weights");

        var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(ModelKind.Cnn, path));

        Assert.Equal($"{path}: neither a PyTorch state dict (torch.save's zip format) nor safetensors", error.Message);
    }

    [Fact]
    public void A_missing_initial_model_is_a_settings_error_naming_the_option()
    {
        var overrides = new Dictionary<string, string> { ["initial-model"] = "/nonexistent/start.pt" };

        var error = Assert.Throws<SettingsException>(() => FederationSettings.Create(ConfigLoader.Load(null, overrides)));

        Assert.Equal("initial-model: no such file: /nonexistent/start.pt", error.Message);
    }

    [Fact]
    public async Task A_run_from_an_initial_model_starts_from_its_weights()
    {
        using var folder = new TempDirectory();
        using var output = new TempDirectory();
        // Weights no seed of the run draws: round 1's training loss is theirs (one batch per client, before its step).
        var start = InitialWeights.Create(ModelKind.TwoNN, seed: 12345);
        ModelFiles.Save(ModelKind.TwoNN, start, folder.Path);
        var overrides = new Dictionary<string, string>
        {
            ["dataset"] = "synthetic", ["clients"] = "4", ["samples-per-client"] = "100", ["batch-size"] = "100", ["rounds"] = "1",
            ["model"] = "2nn", ["initial-model"] = folder.File("model.safetensors"), ["output"] = output.Path,
        };
        var config = ConfigLoader.Load(null, overrides);

        int exit = await SimulateCommand.RunAsync(config, new StringWriter(), CancellationToken.None);

        Assert.Equal(0, exit);
        var csv = File.ReadAllLines(output.File("metrics.csv"));
        double loss = double.Parse(csv[1].Split(',')[Array.IndexOf(csv[0].Split(','), "loss")], CultureInfo.InvariantCulture);
        var settings = FederationSettings.Create(config);
        var data = settings.LoadData(_ => { });
        using var train = new TensorData(data.Train);
        using var trainer = new LocalTrainer(ModelKind.TwoNN);
        var expected = trainer.Evaluate(start, train, Enumerable.Range(0, 400).ToArray());
        var seeds = trainer.Evaluate(InitialWeights.Create(ModelKind.TwoNN, settings.Server.Seed), train, Enumerable.Range(0, 400).ToArray());
        Assert.True(Math.Abs(expected.Loss - seeds.Loss) > 1e-3, "the test needs initial weights whose loss differs from the seed's");
        Assert.Equal(expected.Loss, loss, 4);
    }

    [Fact]
    public void The_READMEs_PyTorch_module_is_the_one_in_docs()
    {
        string root = SettingsTests.RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string models = File.ReadAllText(Path.Combine(root, "docs", "pytorch", "akkafed_models.py"));

        var match = Regex.Match(readme, @"```python\n(?<code>.*?)```", RegexOptions.Singleline);
        Assert.True(match.Success, "README.md shows no python block");
        var shownClass = Regex.Match(match.Groups["code"].Value, @"^class Cnn\(nn\.Module\):\n(    .*\n|\n)*?(?=\S|\z)", RegexOptions.Multiline);
        Assert.True(shownClass.Success, "the README's python block defines no class Cnn");
        Assert.Contains(Normalize(shownClass.Value), Normalize(models));

        static string Normalize(string code) => Regex.Replace(code.Trim(), @"\n\s*\n", "\n").Replace("\r", "");
    }
}

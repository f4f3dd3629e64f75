using System.Diagnostics;
using AkkaFed.Model.Models;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace AkkaFed.Host.Tests;

/// <summary>
/// AkkaFed's model files in PyTorch itself (Debian's python3-torch), and back: torch.load reads model.pt as the state
/// dict of the module in docs/pytorch/akkafed_models.py, whose logits are TorchSharp's; model.safetensors holds the same
/// tensors; and a state dict PyTorch saved loads into AkkaFed with PyTorch's logits.
/// </summary>
[Trait("Category", "PyTorch")]
public sealed class PyTorchInteropTests
{
    private const string Python = "/usr/bin/python3";
    private const double Tolerance = 1e-5;

    /// <summary>
    /// For each (model, folder): checks model.pt against the module, model.safetensors (parsed by hand: there is no
    /// safetensors package for Debian's python) against model.pt, and the module's logits on probe.safetensors' input
    /// against TorchSharp's; then saves a fresh module's state dict and its logits for the way back.
    /// </summary>
    private const string Script = """
        import json, struct, sys
        import torch
        sys.path.insert(0, sys.argv[1])
        from akkafed_models import MODELS

        def fail(message):
            print(message, file=sys.stderr)
            sys.exit(1)

        def read_safetensors(path):
            data = open(path, "rb").read()
            (length,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8:8 + length])
            tensors = {}
            for name, entry in header.items():
                if name == "__metadata__":
                    continue
                if entry["dtype"] != "F32":
                    fail(f"{path}: {name} is {entry['dtype']}, not F32")
                start, end = entry["data_offsets"]
                raw = bytearray(data[8 + length + start:8 + length + end])
                tensors[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(entry["shape"])
            return tensors

        def layout(state):
            return [(name, tuple(tensor.shape)) for name, tensor in state.items()]

        torch.set_num_threads(1)
        for arg in sys.argv[2:]:
            kind, folder = arg.split("=", 1)
            module = MODELS[kind]()
            state = torch.load(f"{folder}/model.pt")
            if layout(state) != layout(module.state_dict()):
                fail(f"{kind}: model.pt holds {layout(state)}, the module has {layout(module.state_dict())}")
            if any(t.dtype != torch.float32 for t in state.values()):
                fail(f"{kind}: model.pt holds tensors that are not float32")
            module.load_state_dict(state, strict=True)
            module.eval()
            safetensors = read_safetensors(f"{folder}/model.safetensors")
            if layout(safetensors) != layout(state):
                fail(f"{kind}: model.safetensors holds {layout(safetensors)}, model.pt {layout(state)}")
            for name in state:
                if not torch.equal(safetensors[name], state[name]):
                    fail(f"{kind}: {name} differs between model.safetensors and model.pt")
            probe = read_safetensors(f"{folder}/probe.safetensors")
            with torch.no_grad():
                logits = module(probe["input"])
            gap = (logits - probe["logits"]).abs().max().item()
            if gap > 1e-5:
                fail(f"{kind}: PyTorch's logits differ from TorchSharp's by up to {gap}")
            torch.manual_seed(7)
            fresh = MODELS[kind]()
            fresh.eval()
            with torch.no_grad():
                fresh_logits = fresh(probe["input"])
            torch.save(fresh.state_dict(), f"{folder}/from_pytorch.pt")
            torch.save({"logits": fresh_logits}, f"{folder}/from_pytorch_logits.pt")
            print(f"{kind}: names, shapes, values and logits agree (gap {gap:.2e})")
        """;

    [Fact]
    public async Task PyTorch_and_AkkaFed_read_each_others_state_dicts_and_compute_the_same_logits()
    {
        await RequirePyTorch();
        using var folder = new TempDirectory();
        var kinds = new[] { ModelKind.Cnn, ModelKind.McMahanCnn, ModelKind.TwoNN };
        var arguments = new List<string> { "-c", Script, Path.Combine(SettingsTests.RepositoryRoot(), "docs", "pytorch") };
        foreach (var kind in kinds)
        {
            string dir = Directory.CreateDirectory(folder.File(Architectures.NameOf(kind))).FullName;
            var weights = InitialWeights.Create(kind, seed: 3);
            ModelFiles.Save(kind, weights, dir);
            using var scope = NewDisposeScope();
            using var generator = new torch.Generator(11);
            var input = rand(new long[] { 4, 1, 28, 28 }, generator: generator);
            using (var file = File.Create(Path.Combine(dir, "probe.safetensors")))
            {
                Safetensors.SaveStateDict(file, new Dictionary<string, Tensor> { ["input"] = input, ["logits"] = Logits(kind, weights, input) });
            }
            arguments.Add($"{Architectures.NameOf(kind)}={dir}");
        }

        var (exit, stdout, stderr) = await Run(arguments);

        Assert.True(exit == 0, $"python3 failed ({exit}): {stderr}{stdout}");
        foreach (var kind in kinds)
        {
            string dir = folder.File(Architectures.NameOf(kind));
            var weights = ModelFiles.Load(kind, Path.Combine(dir, "from_pytorch.pt"));
            using var scope = NewDisposeScope();
            var probe = Safetensors.LoadStateDict(Path.Combine(dir, "probe.safetensors"));
            var expected = (Tensor)PyTorchUnpickler.UnpickleStateDict(Path.Combine(dir, "from_pytorch_logits.pt"))["logits"]!;
            var gap = (Logits(kind, weights, probe["input"]) - expected).abs().max().item<float>();
            Assert.True(gap <= Tolerance, $"{kind}: AkkaFed's logits of PyTorch's weights differ from PyTorch's by up to {gap}");
        }
    }

    private static Tensor Logits(ModelKind kind, float[] weights, Tensor input)
    {
        using var model = Architectures.Create(kind);
        FlatWeights.Write(model, weights);
        model.eval();
        using var _ = no_grad();
        return model.forward(input);
    }

    /// <summary>Fails, never skips: CI installs python3-torch, and a missing one must show.</summary>
    private static async Task RequirePyTorch()
    {
        const string install = "PyTorch interop needs Debian's PyTorch: apt-get install python3-torch (.ci/run installs it)";
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} not found. {install}");
        }
        var (exit, _, stderr) = await Run(new[] { "-c", "import torch" });
        if (exit != 0)
        {
            Assert.Fail($"{Python} cannot import torch ({stderr.Trim()}). {install}");
        }
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> Run(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}

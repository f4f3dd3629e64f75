using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AkkaFed.Model.Models;

/// <summary>The models AkkaFed ships. Each maps [batch, 1, 28, 28] images to 10 logits.</summary>
public enum ModelKind
{
    /// <summary>TFF tutorial's CNN: Conv 32 3x3 ReLU, MaxPool 2x2, Dense 10 (54,410 parameters).</summary>
    Cnn,

    /// <summary>McMahan et al. (2017)'s MNIST CNN (1,663,370 parameters).</summary>
    McMahanCnn,

    /// <summary>McMahan et al. (2017)'s 2NN: 784-200-200-10 (199,210 parameters).</summary>
    TwoNN,
}

public static class Architectures
{
    public static readonly IReadOnlyDictionary<string, ModelKind> Names = new Dictionary<string, ModelKind>
    {
        ["cnn"] = ModelKind.Cnn,
        ["mcmahan-cnn"] = ModelKind.McMahanCnn,
        ["2nn"] = ModelKind.TwoNN,
    };

    public static ModelKind Parse(string name) =>
        Names.TryGetValue(name, out var kind)
            ? kind
            : throw new ArgumentException($"unknown model '{name}'; expected one of: {string.Join(", ", Names.Keys)}");

    public static string NameOf(ModelKind kind) => Names.First(pair => pair.Value == kind).Key;

    /// <summary>
    /// Floating-point operations of one sample's forward pass (two per multiply-add, convolutions and linear layers):
    /// the per-sample cost behind the simulated clock. Training a sample costs about three times as much (forward,
    /// and a backward pass of about twice the forward).
    /// </summary>
    public static long ForwardFlops(ModelKind kind) => kind switch
    {
        // conv 3x3x1 -> 26x26x32; linear 32*13*13 -> 10
        ModelKind.Cnn => 2L * (26 * 26 * 32 * 9 + 32 * 13 * 13 * 10),
        // conv 5x5x1 -> 28x28x32; conv 5x5x32 -> 14x14x64; linear 64*7*7 -> 512 -> 10
        ModelKind.McMahanCnn => 2L * (28 * 28 * 32 * 25 + 14 * 14 * 64 * 32 * 25 + 64 * 7 * 7 * 512 + 512 * 10),
        ModelKind.TwoNN => 2L * (28 * 28 * 200 + 200 * 200 + 200 * 10),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Builds a freshly initialised model. Initialisation draws from torch's global generator.</summary>
    public static Module<Tensor, Tensor> Create(ModelKind kind) => kind switch
    {
        ModelKind.Cnn => new TutorialCnn(),
        ModelKind.McMahanCnn => new McMahanCnn(),
        ModelKind.TwoNN => new TwoNN(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}

/// <summary>The CNN of TensorFlow Federated's MNIST tutorial. The softmax lives in the loss.</summary>
public sealed class TutorialCnn : Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")]
    private readonly Conv2d _conv = Conv2d(1, 32, 3);
    [ComponentName(Name = "pool")]
    private readonly MaxPool2d _pool = MaxPool2d(2);
    [ComponentName(Name = "fc")]
    private readonly Linear _fc = Linear(32 * 13 * 13, 10);

    public TutorialCnn() : base(nameof(TutorialCnn))
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var hidden = functional.relu(_conv.forward(input));
        using var pooled = _pool.forward(hidden);
        using var flat = pooled.flatten(1);
        return _fc.forward(flat);
    }
}

/// <summary>"CNN" of McMahan et al. 2017: two 5x5 conv layers (32, 64), each with 2x2 max pooling, FC 512, FC 10.</summary>
public sealed class McMahanCnn : Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv1")]
    private readonly Conv2d _conv1 = Conv2d(1, 32, 5, padding: 2);
    [ComponentName(Name = "conv2")]
    private readonly Conv2d _conv2 = Conv2d(32, 64, 5, padding: 2);
    [ComponentName(Name = "pool")]
    private readonly MaxPool2d _pool = MaxPool2d(2);
    [ComponentName(Name = "fc1")]
    private readonly Linear _fc1 = Linear(64 * 7 * 7, 512);
    [ComponentName(Name = "fc2")]
    private readonly Linear _fc2 = Linear(512, 10);

    public McMahanCnn() : base(nameof(McMahanCnn))
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var c1 = functional.relu(_conv1.forward(input));
        using var p1 = _pool.forward(c1);
        using var c2 = functional.relu(_conv2.forward(p1));
        using var p2 = _pool.forward(c2);
        using var flat = p2.flatten(1);
        using var h = functional.relu(_fc1.forward(flat));
        return _fc2.forward(h);
    }
}

/// <summary>"2NN" of McMahan et al. 2017: two hidden layers of 200 units with ReLU.</summary>
public sealed class TwoNN : Module<Tensor, Tensor>
{
    [ComponentName(Name = "fc1")]
    private readonly Linear _fc1 = Linear(28 * 28, 200);
    [ComponentName(Name = "fc2")]
    private readonly Linear _fc2 = Linear(200, 200);
    [ComponentName(Name = "fc3")]
    private readonly Linear _fc3 = Linear(200, 10);

    public TwoNN() : base(nameof(TwoNN))
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var flat = input.flatten(1);
        using var h1 = functional.relu(_fc1.forward(flat));
        using var h2 = functional.relu(_fc2.forward(h1));
        return _fc3.forward(h2);
    }
}

/// <summary>
/// A model's initial parameters for a seed, drawn from a generator of its own, never torch's process-wide one:
/// a model built at the same time anywhere in the process (another federation, a trainer, a test) cannot shift the draws.
/// </summary>
/// <remarks>
/// The distributions are PyTorch's defaults for <c>Conv2d</c> and <c>Linear</c>: weights by <c>kaiming_uniform_</c>
/// with a = sqrt(5), that is U(-b, b) with b = sqrt(3) * gain / sqrt(fan_in); biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// with the fan-in of their layer's weight. TorchSharp's module constructors draw these from the global generator,
/// and <c>kaiming_uniform_</c> takes no generator, so each parameter is drawn again here with <c>uniform_</c>, in the
/// constructors' order and bounds: the weights are the same, bit for bit, as seeding the global generator and building.
/// </remarks>
public static class InitialWeights
{
    public static float[] Create(ModelKind kind, int seed)
    {
        using var model = Architectures.Create(kind);
        using var generator = new torch.Generator((ulong)(uint)seed);
        using (torch.no_grad())
        {
            long fanIn = 0;
            foreach (var (name, parameter) in model.named_parameters())
            {
                double bound;
                if (parameter.dim() >= 2)
                {
                    fanIn = parameter.shape.Skip(1).Aggregate(1L, (product, size) => product * size);
                    double gain = Math.Sqrt(2.0 / (1 + 5.0));
                    bound = Math.Sqrt(3.0) * gain / Math.Sqrt(fanIn);
                }
                else if (fanIn > 0 && name.EndsWith("bias", StringComparison.Ordinal))
                {
                    // Parameters come in (weight, bias) pairs per layer, in registration order.
                    bound = 1 / Math.Sqrt(fanIn);
                }
                else
                {
                    throw new InvalidOperationException($"{kind}: no default initialisation for parameter {name}");
                }
                // Tensor.uniform_, not nn.init.uniform_: in TorchSharp 0.107 the latter ignores its generator.
                parameter.uniform_(-bound, bound, generator);
            }
        }
        return FlatWeights.Read(model);
    }
}

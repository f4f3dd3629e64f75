using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace AkkaFed.Model.Models;

/// <summary>One parameter of a model as PyTorch names it in a state dict: <c>conv.weight</c>, shape [32, 1, 3, 3].</summary>
public sealed record ParameterLayout(string Name, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (product, size) => product * size);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>A state dict that does not fit the model: a missing or extra name, a wrong shape or element type.</summary>
public sealed class StateDictMismatchException(string message) : Exception(message);

/// <summary>
/// Flat weights (<see cref="FlatWeights"/>) as a state dict, named tensors in <c>parameters()</c> order, and back:
/// the names and shapes are those of the equivalent PyTorch module (docs/pytorch/akkafed_models.py), so
/// <c>model.load_state_dict(...)</c> takes what AkkaFed writes and AkkaFed takes what PyTorch writes. No file I/O here.
/// </summary>
public static class StateDict
{
    private static readonly ConcurrentDictionary<ModelKind, IReadOnlyList<ParameterLayout>> Layouts = new();

    /// <summary>The model's parameters in <c>parameters()</c> order, the order of the flat weights.</summary>
    public static IReadOnlyList<ParameterLayout> Layout(ModelKind kind) => Layouts.GetOrAdd(kind, static kind =>
    {
        using var model = Architectures.Create(kind);
        return model.named_parameters().Select(pair => new ParameterLayout(pair.name, pair.parameter.shape)).ToArray();
    });

    /// <summary>
    /// New CPU float32 tensors holding <paramref name="weights"/>, by name in <see cref="Layout"/> order. The caller
    /// disposes of them (open a <c>torch.NewDisposeScope()</c> around the call and their use).
    /// </summary>
    public static Dictionary<string, Tensor> ToTensors(ModelKind kind, ReadOnlySpan<float> weights)
    {
        var layout = Layout(kind);
        long expected = layout.Sum(parameter => parameter.Count);
        if (weights.Length != expected)
        {
            throw new ArgumentException($"{Architectures.NameOf(kind)} has {expected} parameters, the weights hold {weights.Length}");
        }
        var tensors = new Dictionary<string, Tensor>(layout.Count);
        int offset = 0;
        foreach (var parameter in layout)
        {
            int length = checked((int)parameter.Count);
            var tensor = zeros(parameter.Shape, ScalarType.Float32);
            weights.Slice(offset, length).CopyTo(MemoryMarshal.Cast<byte, float>(tensor.bytes));
            tensors.Add(parameter.Name, tensor);
            offset += length;
        }
        return tensors;
    }

    /// <summary>
    /// The flat weights of a state dict that has exactly the model's names, each of its shape and of float32.
    /// Throws <see cref="StateDictMismatchException"/> naming the first missing, extra or misshapen entry.
    /// </summary>
    public static float[] FromTensors(ModelKind kind, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var layout = Layout(kind);
        string model = Architectures.NameOf(kind);
        var expectedNames = layout.Select(parameter => parameter.Name).ToHashSet();
        var missing = layout.Select(parameter => parameter.Name).Where(name => !tensors.ContainsKey(name)).ToArray();
        var extra = tensors.Keys.Where(name => !expectedNames.Contains(name)).Order(StringComparer.Ordinal).ToArray();
        if (missing.Length > 0 || extra.Length > 0)
        {
            var problems = new List<string>();
            if (missing.Length > 0)
            {
                problems.Add($"missing {string.Join(", ", missing)}");
            }
            if (extra.Length > 0)
            {
                problems.Add($"unexpected {string.Join(", ", extra)}");
            }
            throw new StateDictMismatchException(
                $"not a {model} state dict: {string.Join("; ", problems)} (a {model} has {string.Join(", ", expectedNames)})");
        }
        var weights = new float[layout.Sum(parameter => parameter.Count)];
        int offset = 0;
        foreach (var parameter in layout)
        {
            var tensor = tensors[parameter.Name];
            if (!tensor.shape.SequenceEqual(parameter.Shape))
            {
                throw new StateDictMismatchException(
                    $"not a {model} state dict: {parameter.Name} has shape [{string.Join(", ", tensor.shape)}], a {model} needs {parameter.ShapeText}");
            }
            if (tensor.dtype != ScalarType.Float32)
            {
                throw new StateDictMismatchException($"{parameter.Name} holds {tensor.dtype}, AkkaFed's models are float32");
            }
            int length = checked((int)parameter.Count);
            using var dense = tensor.contiguous();
            MemoryMarshal.Cast<byte, float>(dense.bytes).CopyTo(weights.AsSpan(offset, length));
            offset += length;
        }
        return weights;
    }
}

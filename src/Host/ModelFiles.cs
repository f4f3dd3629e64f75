using System.Buffers.Binary;
using System.Collections;
using System.IO.Compression;
using System.Text.Json;
using AkkaFed.Model;
using AkkaFed.Model.Models;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace AkkaFed.Host;

/// <summary>
/// A model's weights as files that leave AkkaFed: <c>model.pt</c>, a PyTorch state dict that <c>torch.load</c> reads,
/// and <c>model.safetensors</c>. The names and shapes are those of the PyTorch modules in docs/pytorch/akkafed_models.py
/// (<see cref="StateDict"/>), so <c>model.load_state_dict(torch.load("out/model.pt"))</c> works; either file, or
/// one PyTorch wrote, loads back (<c>--initial-model</c>).
/// </summary>
/// <remarks>
/// Both files are the same bytes for the same weights: a run's model can be compared byte for byte with another's.
/// PyBridge stamps each zip entry with the time of writing, so the state dict is copied into an archive of stored
/// entries dated 1980-01-01, the zip format's earliest date.
/// </remarks>
public static class ModelFiles
{
    public const string StateDictName = "model.pt";
    public const string SafetensorsName = "model.safetensors";

    private static readonly DateTimeOffset ZipEpoch = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Writes <c>model.pt</c> and <c>model.safetensors</c> into <paramref name="folder"/>; returns their paths.</summary>
    public static (string StateDict, string Safetensors) Save(ModelKind kind, ReadOnlySpan<float> weights, string folder)
    {
        Directory.CreateDirectory(folder);
        var paths = (Path.Combine(folder, StateDictName), Path.Combine(folder, SafetensorsName));
        SaveStateDict(kind, weights, paths.Item1);
        SaveSafetensors(kind, weights, paths.Item2);
        return paths;
    }

    /// <summary>Writes <paramref name="weights"/> as a PyTorch state dict (<c>torch.save</c>'s zip format).</summary>
    public static void SaveStateDict(ModelKind kind, ReadOnlySpan<float> weights, string path)
    {
        using var pickled = new MemoryStream();
        using (var scope = torch.NewDisposeScope())
        {
            PyTorchPickler.PickleStateDict(pickled, StateDict.ToTensors(kind, weights), leaveOpen: true);
        }
        pickled.Position = 0;
        using var source = new ZipArchive(pickled, ZipArchiveMode.Read);
        using var file = File.Create(path);
        using var archive = new ZipArchive(file, ZipArchiveMode.Create);
        foreach (var entry in source.Entries)
        {
            var copy = archive.CreateEntry(entry.FullName, CompressionLevel.NoCompression);
            copy.LastWriteTime = ZipEpoch;
            using var from = entry.Open();
            using var to = copy.Open();
            from.CopyTo(to);
        }
    }

    /// <summary>Writes <paramref name="weights"/> as safetensors: a little-endian u64 header length, a JSON header, the raw data.</summary>
    public static void SaveSafetensors(ModelKind kind, ReadOnlySpan<float> weights, string path)
    {
        using var scope = torch.NewDisposeScope();
        using var file = File.Create(path);
        Safetensors.SaveStateDict(file, StateDict.ToTensors(kind, weights));
    }

    /// <summary>
    /// The weights in a state dict file, <c>torch.save</c>'s or safetensors (told apart by content), of a
    /// <paramref name="kind"/> model. Throws <see cref="InvalidDataException"/>, its message naming the file and the problem,
    /// for a file that is neither, is cut short or corrupt, or whose names or shapes are another model's.
    /// </summary>
    public static float[] Load(ModelKind kind, string path)
    {
        byte[] head = new byte[9];
        int read;
        try
        {
            using var probe = File.OpenRead(path);
            read = probe.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the model file ({e.Message})");
        }
        bool zip = read >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        bool safetensors = read == head.Length && head[8] == '{';
        if (!zip && !safetensors)
        {
            throw new InvalidDataException(
                $"{path}: neither a PyTorch state dict (torch.save's zip format) nor safetensors");
        }
        string format = zip ? "PyTorch state dict" : "safetensors file";
        using var scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = zip ? ReadStateDict(path) : ReadSafetensors(path);
        }
        catch (InvalidDataException e) when (e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // PyBridge and its pickle reader throw whatever their parsers meet (end of stream, a bad opcode, a cast).
            throw new InvalidDataException($"{path}: not a readable {format}, corrupt or cut short ({FirstLine(e.Message)})");
        }
        try
        {
            return StateDict.FromTensors(kind, tensors);
        }
        catch (StateDictMismatchException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary><see cref="Load"/> for a setting: the problem becomes a <see cref="SettingsException"/> of <paramref name="key"/>.</summary>
    public static float[] Load(ModelKind kind, string path, string key)
    {
        if (!File.Exists(path))
        {
            throw new SettingsException(key, $"no such file: {path}");
        }
        try
        {
            return Load(kind, path);
        }
        catch (InvalidDataException e)
        {
            throw new SettingsException(key, e.Message);
        }
    }

    /// <summary>The weights <c>--initial-model</c> names, for round 1; null to start from the seed's initial weights.</summary>
    public static float[]? Initial(FederationSettings settings) =>
        settings.InitialModel is { } path ? Load(settings.Model, path, "initial-model") : null;

    private static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        using var file = File.OpenRead(path);
        var table = PyTorchUnpickler.UnpickleStateDict(file);
        var tensors = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Value is not Tensor tensor)
            {
                throw new InvalidDataException(
                    $"{path}: entry '{entry.Key}' is not a tensor; save a module's state dict: torch.save(model.state_dict(), path)");
            }
            tensors[(string)entry.Key] = tensor;
        }
        return tensors;
    }

    private static Dictionary<string, Tensor> ReadSafetensors(string path)
    {
        using var file = File.OpenRead(path);
        // PyBridge reads a tensor's bytes without checking that the file holds them all: the lengths are checked first.
        Span<byte> prefix = stackalloc byte[8];
        file.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)file.Length - 8)
        {
            throw new InvalidDataException($"{path}: not a readable safetensors file, cut short (its header needs {headerLength} bytes)");
        }
        var header = new byte[headerLength];
        file.ReadExactly(header);
        long dataEnd = 0;
        using (var index = JsonDocument.Parse(header))
        {
            foreach (var entry in index.RootElement.EnumerateObject().Where(entry => entry.Name != "__metadata__"))
            {
                dataEnd = Math.Max(dataEnd, entry.Value.GetProperty("data_offsets")[1].GetInt64());
            }
        }
        if (file.Length < 8 + (long)headerLength + dataEnd)
        {
            throw new InvalidDataException(
                $"{path}: not a readable safetensors file, cut short ({file.Length} bytes of {8 + (long)headerLength + dataEnd})");
        }
        file.Position = 0;
        var tensors = Safetensors.LoadStateDict(file, leaveOpen: true);
        return tensors;
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}

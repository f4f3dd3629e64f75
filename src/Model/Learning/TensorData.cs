using AkkaFed.Model.Data;
using static TorchSharp.torch;

namespace AkkaFed.Model.Learning;

/// <summary>
/// A dataset as two tensors, made once and shared read-only by every trainer: images
/// [N, 1, H, W] float32 and labels [N] int64. Batches are gathered from them by index.
/// </summary>
public sealed class TensorData : IDisposable
{
    public TensorData(Dataset dataset)
    {
        Dataset = dataset;
        Images = tensor(dataset.Images, new long[] { dataset.Count, 1, dataset.Height, dataset.Width });
        Labels = tensor(dataset.Labels.Select(label => (long)label).ToArray(), new long[] { dataset.Count });
    }

    public Dataset Dataset { get; }
    public Tensor Images { get; }
    public Tensor Labels { get; }
    public int Count => Dataset.Count;

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

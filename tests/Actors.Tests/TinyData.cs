using AkkaFed.Model.Data;

namespace AkkaFed.Actors.Tests;

/// <summary>A few random 28x28 images: enough to exercise training, not to learn anything.</summary>
internal static class TinyData
{
    public static Dataset Create(int count, int seed = 1)
    {
        var random = new Random(seed);
        var images = new float[count * 28 * 28];
        for (int i = 0; i < images.Length; i++)
        {
            images[i] = (float)random.NextDouble();
        }
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
        return new Dataset("tiny", images, labels, 28, 28);
    }
}

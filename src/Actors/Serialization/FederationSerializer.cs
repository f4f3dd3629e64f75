using Akka.Actor;
using Akka.Serialization;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Akka serializer for every <see cref="Protocol.IFederationMessage"/> and <see cref="Chunk"/>: a compact little-endian
/// binary format (see <see cref="FederationWire"/>, whose one table lists every message and its two-letter manifest)
/// where weights are raw float32 copied in bulk, instead of the default JSON that would spell out millions of floats
/// as text. Bound by <see cref="FederationSerialization.Config"/>.
/// </summary>
/// <remarks>
/// Malformed input throws <see cref="System.Runtime.Serialization.SerializationException"/> naming the message type,
/// the field and the problem. Weights read here come from the system's <see cref="WeightBuffers"/>.
/// </remarks>
public sealed class FederationSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id on the wire; it must be the same on every node.</summary>
    public const int Id = 4711;

    private WeightBuffers? _buffers;

    public FederationSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => Id;

    // Serializers are made while the system starts, before extensions can be: the pool is looked up on first use.
    private WeightBuffers Buffers => _buffers ??= WeightBuffers.Get(system);

    public override string Manifest(object o) => FederationWire.Manifest(o);

    public override byte[] ToBinary(object obj) => FederationWire.Serialize(obj);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(manifest);
        return FederationWire.Deserialize(bytes, manifest, Buffers);
    }
}

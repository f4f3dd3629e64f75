using Akka.Actor;
using Akka.Serialization;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Akka serializer for every <see cref="Protocol.IFederationMessage"/>: a compact little-endian binary format
/// (see <see cref="FederationWire"/>) where weights are raw float32 copied in bulk, instead of the default
/// JSON that would spell out millions of floats as text. Bound by <see cref="FederationSerialization.Config"/>.
/// </summary>
/// <remarks>
/// Manifests are two letters: RC RegisterClient, CR ClientRegistered, FQ FitRequest, FR FitResult,
/// FF FitFailed, CH Chunk. Malformed input throws <see cref="System.Runtime.Serialization.SerializationException"/>
/// naming the message type and the problem.
/// </remarks>
public sealed class FederationSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id on the wire; it must be the same on every node.</summary>
    public const int Id = 4711;

    public FederationSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => Id;

    public override string Manifest(object o) => FederationWire.Manifest(o);

    public override byte[] ToBinary(object obj) => obj is Chunk { Frame: { } frame } ? frame : FederationWire.Serialize(obj);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(manifest);
        return FederationWire.Deserialize(bytes, manifest);
    }
}

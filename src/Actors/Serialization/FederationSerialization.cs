using Akka.Configuration;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// The HOCON every node that exchanges federation messages needs: it makes Akka serialize them with
/// <see cref="FederationSerializer"/>, and starts the node's <see cref="FederationTransport"/> with the system, so that
/// chunks sent to it are joined before any protocol actor of the node has sent anything.
/// </summary>
public static class FederationSerialization
{
    /// <summary>
    /// Binds <see cref="Protocol.IFederationMessage"/> and <see cref="Chunk"/> to <see cref="FederationSerializer"/> and
    /// names <see cref="FederationTransportProvider"/> in <c>akka.extensions</c>. A configuration that sets
    /// <c>akka.extensions</c> itself replaces this list and must name the provider too. Harmless on a node that never
    /// leaves the process.
    /// </summary>
    public static Config Config { get; } = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers {
            akkafed = "AkkaFed.Actors.Serialization.FederationSerializer, AkkaFed.Actors"
          }
          serialization-bindings {
            "AkkaFed.Actors.Protocol.IFederationMessage, AkkaFed.Actors" = akkafed
            "AkkaFed.Actors.Serialization.Chunk, AkkaFed.Actors" = akkafed
          }
          serialization-identifiers {
            "AkkaFed.Actors.Serialization.FederationSerializer, AkkaFed.Actors" = {{FederationSerializer.Id}}
          }
        }
        akka.extensions = ["AkkaFed.Actors.Serialization.FederationTransportProvider, AkkaFed.Actors"]
        """);
}

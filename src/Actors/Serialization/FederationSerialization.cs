using Akka.Configuration;

namespace AkkaFed.Actors.Serialization;

/// <summary>The HOCON that makes Akka serialize every federation message with <see cref="FederationSerializer"/>.</summary>
public static class FederationSerialization
{
    /// <summary>
    /// Binds <see cref="Protocol.IFederationMessage"/> (and so <see cref="Chunk"/>) to <see cref="FederationSerializer"/>.
    /// Every node that exchanges federation messages needs it; it is harmless on a node that never leaves the process.
    /// </summary>
    public static Config Config { get; } = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers {
            akkafed = "AkkaFed.Actors.Serialization.FederationSerializer, AkkaFed.Actors"
          }
          serialization-bindings {
            "AkkaFed.Actors.Protocol.IFederationMessage, AkkaFed.Actors" = akkafed
          }
          serialization-identifiers {
            "AkkaFed.Actors.Serialization.FederationSerializer, AkkaFed.Actors" = {{FederationSerializer.Id}}
          }
        }
        """);
}

using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;

namespace AkkaFed.Actors.Security;

/// <summary>
/// How a cluster node is set up with mutual TLS: its certificate on both sides of every connection, peers checked
/// against the deployment's CA (<see cref="TrustAnchor.Validator"/>), and its credentials for <see cref="NodeIdentities"/>.
/// </summary>
public static class SecureCluster
{
    /// <summary>
    /// The setup of a node's actor system: <paramref name="config"/> alone when <paramref name="credentials"/> is null
    /// (insecure), else with mutual TLS and the node's identity.
    /// </summary>
    public static ActorSystemSetup Setup(Config config, NodeCredentials? credentials)
    {
        if (credentials is null)
        {
            return ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config));
        }
        var tls = ConfigurationFactory.ParseString("""
            akka.remote.dot-netty.tcp.enable-ssl = true
            akka.remote.dot-netty.tcp.ssl.suppress-validation = false
            akka.remote.dot-netty.tcp.ssl.require-mutual-authentication = true
            """);
        return BootstrapSetup.Create().WithConfig(tls.WithFallback(config))
            .And(new DotNettySslSetup(credentials.Certificate, suppressValidation: false, requireMutualAuthentication: true,
                validateCertificateHostname: false, customValidator: credentials.Anchor.Validator()))
            .And(new NodeCredentialsSetup(credentials));
    }

    /// <summary>Starts the <see cref="IdentityGuard"/> when <paramref name="system"/> has credentials; nothing otherwise.</summary>
    public static void StartGuard(ActorSystem system)
    {
        if (NodeIdentities.Get(system).Secure)
        {
            system.ActorOf(IdentityGuard.Props(), IdentityGuard.Name);
        }
    }
}

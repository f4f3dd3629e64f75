using Akka.Actor;
using AkkaFed.Actors.Security;
using Xunit;

namespace AkkaFed.Actors.Tests.Security;

[Trait("Category", "Security")]
public sealed class NodeIdentityTests
{
    private static readonly NodeIdentity Site = new("site-a", NodeRole.Client, ["client-00000", "site-a-*"]);

    [Fact]
    public void An_identity_travels_in_its_certificate_unchanged()
    {
        var credentials = X509Pair.Create().Credentials(Site);
        var read = NodeIdentity.Of(credentials.Certificate);
        Assert.Equal(Site, read);
        Assert.True(read.MayHost("site-a-0007"));
        Assert.False(read.MayHost("client-00001"));
        Assert.False(new NodeIdentity("server-0", NodeRole.Server, []).MayHost("client-00000"));
    }

    [Fact]
    public void A_proof_heard_again_is_no_news()
    {
        // The guard answers a proof with its own only when the proof told it something new: were every decoded identity
        // "new", two guards would answer each other for ever (it flooded a TLS cluster with ten times its segments).
        var credentials = X509Pair.Create().Credentials(Site);
        using var system = ActorSystem.Create("identities");
        var identities = NodeIdentities.Get(system);
        var peer = new Address("akka.ssl.tcp", "akkafed", "127.0.0.1", 4053);
        Assert.True(identities.Admit(peer, NodeIdentity.Of(credentials.Certificate)));
        Assert.False(identities.Admit(peer, NodeIdentity.Of(credentials.Certificate)));
        Assert.True(identities.Admit(peer, new NodeIdentity("site-a", NodeRole.Client, ["client-00000"])));
        Assert.Equal(NodeIdentity.Of(credentials.Certificate).GetHashCode(), Site.GetHashCode());
    }

    [Theory]
    [InlineData("")]
    [InlineData("akkafed-identity/1\nname=a\nrole=root\nclients=\n")]
    [InlineData("akkafed-identity/1\nname=a b\nrole=client\nclients=\n")]
    [InlineData("akkafed-identity/1\nname=a\nrole=client\nclients=x*y\n")]
    [InlineData("akkafed-identity/1\nname=s\nrole=server\nclients=c\n")]
    public void A_malformed_identity_is_refused_naming_what_is_wrong(string text)
    {
        var error = Assert.Throws<FormatException>(() => NodeIdentity.Decode(System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.StartsWith("the identity", error.Message);
    }
}

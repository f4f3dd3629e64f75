using Akka.Actor;
using Akka.Cluster;
using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>What a client node concludes from its server members: reachable, all unreachable (isolated), or none.</summary>
public sealed class ServerWatchTests
{
    private static UniqueAddress Node(int port, int uid = 1) => new(new Address("akka.tcp", "akkafed", "127.0.0.1", port), uid);

    [Fact]
    public void A_node_that_can_reach_one_server_of_two_sees_a_server_as_during_a_failover()
    {
        var watch = new ServerWatch();
        watch.Up(Node(1));
        watch.Up(Node(2));

        watch.Unreachable(Node(1));

        Assert.Equal(ServerSight.Reachable, watch.Sight);
    }

    [Fact]
    public void A_node_left_with_dead_server_members_only_is_isolated_until_one_is_reachable_again()
    {
        var watch = new ServerWatch();
        Assert.Equal(ServerSight.None, watch.Sight);
        watch.Up(Node(1));

        watch.Unreachable(Node(1));
        Assert.Equal(ServerSight.Unreachable, watch.Sight);

        watch.Reachable(Node(1));
        Assert.Equal(ServerSight.Reachable, watch.Sight);
    }

    [Fact]
    public void A_server_restarted_on_the_same_port_is_not_mistaken_for_its_dead_incarnation()
    {
        var watch = new ServerWatch();
        watch.Up(Node(1, uid: 1));
        watch.Unreachable(Node(1, uid: 1));

        watch.Up(Node(1, uid: 2));
        Assert.Equal(ServerSight.Reachable, watch.Sight);

        watch.Gone(Node(1, uid: 2));
        Assert.Equal(ServerSight.Unreachable, watch.Sight);
        watch.Gone(Node(1, uid: 1));
        Assert.Equal(ServerSight.None, watch.Sight);
    }
}

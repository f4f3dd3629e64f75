using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace AkkaFed.Host;

/// <summary>
/// A cluster node's Akka logger: Akka's standard output, without the warnings every normal start and every node that
/// comes up after another produces. A client node that starts before its server (or while one takes over) has Akka warn
/// that the server singleton cannot be found, that the seed nodes refused the connection, and that joining them will
/// be tried again; what matters of that is reported by the node itself (no server for server-grace: it gives up), and
/// of a node that died by the cluster (UNREACHABLE, the resolver's downing). Every other warning and error is printed,
/// as Akka prints it. <c>--verbose</c> replaces this logger with Akka's own, at INFO.
/// </summary>
public sealed class NodeLogger : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    /// <summary>The setting that makes a node log through this logger.</summary>
    public static readonly Akka.Configuration.Config Config =
        Akka.Configuration.ConfigurationFactory.ParseString($"akka.loggers = [\"{typeof(NodeLogger).FullName}, {typeof(NodeLogger).Assembly.GetName().Name}\"]");

    /// <summary>The start of each message this logger leaves out: expected while nodes come and go, and as a run ends.</summary>
    internal static readonly string[] Expected =
    {
        "ClusterSingletonProxy failed to find an associated singleton",
        "Tried to associate with unreachable remote address",
        "Couldn't join seed nodes after",
        // The end of a run: a node whose peer has just closed the connection, as the run's end makes every node do.
        "Unable to REMOVE channel",
    };

    public static bool IsExpected(LogEvent log) =>
        log.LogLevel() <= LogLevel.WarningLevel && log.Message?.ToString() is { } text &&
        Expected.Any(start => text.StartsWith(start, StringComparison.Ordinal));

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case LogEvent log:
                if (!IsExpected(log))
                {
                    Console.Out.WriteLine(log.ToString());
                }
                return true;
            default:
                return false;
        }
    }
}

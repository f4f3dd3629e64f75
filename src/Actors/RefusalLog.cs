using Akka.Event;

namespace AkkaFed.Actors;

/// <summary>
/// Logs what an actor refuses from a sender, in bounded volume: a hostile or retrying sender repeats itself, so only the
/// 1st, 2nd, 4th, 8th... refusal of an actor is a warning and the others are debug lines, each numbered.
/// </summary>
internal static class RefusalLog
{
    /// <param name="count">The actor's count of refusals so far, incremented here.</param>
    /// <param name="expected">A refusal that is normal (a node whose identity proof is still on its way): debug only.</param>
    public static void Refused(ILoggingAdapter log, ref long count, string what, string why, bool expected = false)
    {
        long n = ++count;
        if (!expected && (n & (n - 1)) == 0)
        {
            log.Warning("Refused {0} (refusal {1}): {2}", what, n, why);
        }
        else
        {
            log.Debug("Refused {0} (refusal {1}): {2}", what, n, why);
        }
    }
}

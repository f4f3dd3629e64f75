namespace AkkaFed.Actors.Tests;

/// <summary>
/// The configuration of a protocol spec whose time moves only by hand (TestKit's scheduler). A message that must come
/// may wait up to 30 s, so a loaded machine (libtorch loading, a busy CPU) delays a test instead of failing it; time
/// itself never depends on the machine.
/// </summary>
internal static class ManualTime
{
    public const string Config = "akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"\n" +
                                 "akka.test.single-expect-default = 30s";
}

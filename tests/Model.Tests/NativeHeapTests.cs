using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class NativeHeapTests
{
    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void On_linux_with_nothing_set_the_thresholds_are_tuned()
    {
        Assert.Equal(NativeHeap.TuningOutcome.Applied, NativeHeap.Decide(Environment(), isLinux: true));
        Assert.Equal(NativeHeap.TuningOutcome.Applied, NativeHeap.Decide(Environment(("AKKAFED_MALLOC_TUNING", "on")), isLinux: true));
        Assert.Equal(NativeHeap.TuningOutcome.Applied,
            NativeHeap.Decide(Environment(("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")), isLinux: true));
    }

    [Theory]
    [InlineData("MALLOC_MMAP_THRESHOLD_", "131072")]
    [InlineData("MALLOC_TRIM_THRESHOLD_", "0")]
    [InlineData("MALLOC_TRIM_THRESHOLD_", "")]
    [InlineData("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")]
    [InlineData("GLIBC_TUNABLES", "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=1")]
    public void A_threshold_the_user_set_is_left_as_they_set_it(string name, string value)
    {
        Assert.Equal(NativeHeap.TuningOutcome.UserSet, NativeHeap.Decide(Environment((name, value)), isLinux: true));
    }

    [Fact]
    public void The_tuning_can_be_turned_off_and_does_nothing_elsewhere_than_linux()
    {
        Assert.Equal(NativeHeap.TuningOutcome.Disabled, NativeHeap.Decide(Environment(("AKKAFED_MALLOC_TUNING", "off")), isLinux: true));
        Assert.Equal(NativeHeap.TuningOutcome.Disabled, NativeHeap.Decide(Environment(("AKKAFED_MALLOC_TUNING", " OFF ")), isLinux: true));
        Assert.Equal(NativeHeap.TuningOutcome.Unavailable, NativeHeap.Decide(Environment(), isLinux: false));
    }

    [Fact]
    public void Tune_acts_once_and_reports_what_it_did_every_time()
    {
        // A model's creation has tuned already (every LocalTrainer calls it); the outcome is the process's.
        using (new LocalTrainer(Models.ModelKind.Cnn))
        {
        }
        var first = NativeHeap.Tune();
        var expected = NativeHeap.Decide(System.Environment.GetEnvironmentVariable, OperatingSystem.IsLinux());

        Assert.Equal(first, NativeHeap.Tune());
        // On glibc, what the environment decided is what happened; on musl, Applied turns into Unavailable.
        if (expected == NativeHeap.TuningOutcome.Applied)
        {
            Assert.Contains(first, new[] { NativeHeap.TuningOutcome.Applied, NativeHeap.TuningOutcome.Unavailable });
            if (File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/lib/aarch64-linux-gnu/libc.so.6"))
            {
                Assert.Equal(NativeHeap.TuningOutcome.Applied, first);
            }
        }
        else
        {
            Assert.Equal(expected, first);
        }
    }

    [Fact]
    public void Mkl_is_set_to_give_the_same_bits_wherever_its_buffers_lie_before_libtorch_is_touched()
    {
        // Set when the assembly loaded (a runner that sets MKL_CBWR itself keeps its own value, and fails this test).
        Assert.Equal(MklReproducibility.Mode, MklReproducibility.Current);
    }
}

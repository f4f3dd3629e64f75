using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AkkaFed.Model.Learning;

/// <summary>
/// Makes libtorch's Intel MKL give the same bits for the same inputs wherever its buffers happen to lie in memory,
/// by setting <c>MKL_CBWR=AUTO,STRICT</c> (conditional numerical reproducibility, strict: independent of the
/// alignment of the arrays) before MKL first reads it.
/// </summary>
/// <remarks>
/// Without it, a matrix product in the forward pass could differ in its last bit from one call to the next with the
/// very same weights and inputs: the 2NN's test loss after a round came out as 2.3074689865 or 2.3074691772 in about
/// half the runs of <c>SimulatedClockSpec</c>, the first evaluation after the clients' training, whose freed
/// buffers moved the next ones. With the setting, 60 of 60 evaluations gave the same logits. MKL reads the variable
/// from the C library's environment, which <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not
/// reach on Linux, so it is set with <c>setenv</c> when this assembly loads, before any of its code touches libtorch.
/// A value the user set is left as it is.
/// </remarks>
public static class MklReproducibility
{
    public const string Variable = "MKL_CBWR";
    public const string Mode = "AUTO,STRICT";

    /// <summary>The mode in MKL's environment now, as the C library holds it (null when unset or not on glibc/musl).</summary>
    public static string? Current => OperatingSystem.IsWindows() ? Environment.GetEnvironmentVariable(Variable) : Marshal.PtrToStringUTF8(getenv(Variable));

    // A library's module initializer, on purpose (CA2255): it must run before any code of this assembly calls libtorch.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (OperatingSystem.IsWindows())
        {
            // The CRT reads the process environment, which this call does set on Windows.
            if (Environment.GetEnvironmentVariable(Variable) is null)
            {
                Environment.SetEnvironmentVariable(Variable, Mode);
            }
            return;
        }
        try
        {
            setenv(Variable, Mode, overwrite: 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No C library to set it in: MKL's default, reproducible only for aligned arrays.
        }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "getenv")]
    private static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}

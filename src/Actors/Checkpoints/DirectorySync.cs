using System.Runtime.InteropServices;

namespace AkkaFed.Actors.Checkpoints;

/// <summary>
/// Makes a rename in a folder durable. On Linux a renamed file survives a power loss only once its folder's entry is
/// on disk, which takes an fsync of the folder itself; .NET cannot open a folder as a file (File.OpenHandle refuses
/// one), so this calls open(O_RDONLY) and fsync from libc, which .NET maps to libc.so.6 on glibc.
/// </summary>
public static class DirectorySync
{
    // EINVAL: the file system cannot sync a folder (some FUSE and network mounts); there is nothing more to do.
    private const int EINVAL = 22;

    /// <summary>Flushes <paramref name="directory"/>'s entries to disk on Linux; elsewhere does nothing.</summary>
    /// <exception cref="IOException">The folder could not be opened or synced, with the error number.</exception>
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        int descriptor = Open(directory, flags: 0);
        if (descriptor < 0)
        {
            throw new IOException($"cannot open the folder {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (Fsync(descriptor) != 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error != EINVAL)
                {
                    throw new IOException($"cannot sync the folder {directory} to disk (errno {error})");
                }
            }
        }
        finally
        {
            Close(descriptor);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int descriptor);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int descriptor);
}

using AkkaFed.Actors;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>Turns the errors a user can cause into one clear line and an exit code, instead of a stack trace.</summary>
public static class Cli
{
    public static async Task<int> Guard(Func<Task<int>> run)
    {
        try
        {
            return await run();
        }
        catch (SettingsException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or Data.DatasetUnavailableException or FileNotFoundException or DirectoryNotFoundException
                                      or ArgumentException or FederationException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }
}

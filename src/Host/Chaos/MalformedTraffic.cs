using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using AkkaFed.Actors.Security;

namespace AkkaFed.Host.Chaos;

/// <summary>
/// A raw TCP client that connects to a node's Akka port and sends what no Akka node would: random bytes, a frame
/// header far over the frame limit, a frame that parses as nothing, half a frame left hanging, or a burst of
/// connections. The node must drop the connection and go on; whether it does is judged by the run's invariants.
/// On a cluster with mutual TLS it speaks TLS with a provisioned node's credentials, as a hostile insider would: an
/// outsider's bytes end at the handshake, an insider's reach Akka's framing and the serializer behind it.
/// </summary>
internal static class MalformedTraffic
{
    /// <summary>How long a truncated frame's connection is held open before it is closed.</summary>
    public static readonly TimeSpan HoldOpen = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Sends <paramref name="kind"/> to 127.0.0.1:<paramref name="port"/>, inside TLS with <paramref name="insider"/>'s
    /// certificate when it is given; returns what happened, for the log.
    /// </summary>
    public static async Task<string> SendAsync(MalformedKind kind, int port, Random random, NodeCredentials? insider, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            string what = kind switch
            {
                MalformedKind.Garbage => await OneConnection(port, Random(random, 4096), TimeSpan.Zero, insider, cancel),
                MalformedKind.OversizedFrame => await OneConnection(port, Frame(64 << 20, Random(random, 1 << 20)), TimeSpan.Zero, insider, cancel),
                MalformedKind.GarbageFrame => await OneConnection(port, Frame(1000, Random(random, 1000)), TimeSpan.Zero, insider, cancel),
                MalformedKind.TruncatedFrame => await OneConnection(port, Frame(100_000, Random(random, 10)), HoldOpen, insider, cancel),
                _ => await Flood(port, random, insider, cancel),
            };
            return $"{what} ({clock.Elapsed.TotalSeconds:F1} s)";
        }
        catch (SocketException e)
        {
            return $"could not connect: {e.SocketErrorCode}";
        }
        catch (AuthenticationException e)
        {
            return $"the TLS handshake failed: {e.Message}";
        }
        catch (IOException e)
        {
            return $"the connection failed: {e.Message}";
        }
    }

    private static byte[] Random(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>An Akka.Remote frame: a 4-byte little-endian length (which need not be the payload's), then the payload.</summary>
    private static byte[] Frame(int announcedLength, byte[] payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, announcedLength);
        payload.CopyTo(frame, 4);
        return frame;
    }

    private static async Task<string> OneConnection(int port, byte[] bytes, TimeSpan hold, NodeCredentials? insider, CancellationToken cancel)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancel);
        await using var stream = insider is null ? (Stream)client.GetStream() : await Tls(client.GetStream(), insider, cancel);
        int sent = 0;
        try
        {
            // In pieces, so that a node which closes the connection part-way is seen doing so.
            for (; sent < bytes.Length; sent += Math.Min(64 * 1024, bytes.Length - sent))
            {
                await stream.WriteAsync(bytes.AsMemory(sent, Math.Min(64 * 1024, bytes.Length - sent)), cancel);
            }
        }
        catch (IOException)
        {
            return $"sent {sent} of {bytes.Length} bytes, then the node closed the connection";
        }
        if (hold > TimeSpan.Zero)
        {
            await Task.Delay(hold, cancel);
        }
        // Whether the node hung up: a read that returns 0 (or fails) within a few seconds.
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        wait.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            int read = await stream.ReadAsync(new byte[256], wait.Token);
            return read == 0 ? $"sent {bytes.Length} bytes; the node closed the connection" : $"sent {bytes.Length} bytes; the node answered {read} bytes";
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return $"sent {bytes.Length} bytes; the node kept the connection open";
        }
        catch (IOException)
        {
            return $"sent {bytes.Length} bytes; the node reset the connection";
        }
    }

    /// <summary>The connection inside TLS, as a node of the deployment opens one: its certificate shown, the peer's checked against the CA.</summary>
    private static async Task<Stream> Tls(NetworkStream network, NodeCredentials insider, CancellationToken cancel)
    {
        var tls = new SslStream(network, leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                ClientCertificates = [insider.Certificate],
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    insider.Anchor.Refusal(certificate as System.Security.Cryptography.X509Certificates.X509Certificate2) is null,
            }, cancel);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    private static async Task<string> Flood(int port, Random random, NodeCredentials? insider, CancellationToken cancel)
    {
        var payloads = Enumerable.Range(0, 32).Select(_ => Frame(1000, Random(random, 1000))).ToArray();
        var results = await Task.WhenAll(payloads.Select(async payload =>
        {
            try
            {
                return await OneConnection(port, payload, TimeSpan.Zero, insider, cancel);
            }
            catch (SocketException e)
            {
                return $"could not connect: {e.SocketErrorCode}";
            }
            catch (AuthenticationException e)
            {
                return $"the TLS handshake failed: {e.Message}";
            }
        }));
        return $"32 connections: {string.Join("; ", results.GroupBy(r => r).Select(g => $"{g.Count()} x {g.Key}"))}";
    }
}

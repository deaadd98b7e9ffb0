using System.Net;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.HttpProbe;
using Microsoft.Extensions.Logging.Abstractions;

// httpprobe-own PORT: POST /v1/predict on 127.0.0.1:PORT through the agent's LocalHttpServer; stops on SIGTERM.
using var work = new PredictWork();
await using var server = new LocalHttpServer(new IPEndPoint(IPAddress.Loopback, int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture)), new Handler(work), new LocalHttpLimits(), NullLogger.Instance);
server.Start();
Console.WriteLine("listening");
using var stop = new CancellationTokenSource();
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}

internal sealed class Handler(PredictWork work) : ILocalHttpHandler
{
    public int Handle(LocalHttpRequest request, Utf8JsonWriter json) => work.Handle(request.Body, json);
}

using System.Buffers;
using System.Text.Json;
using EdgeMlOps.HttpProbe;

// httpprobe-kestrel PORT: POST /v1/predict on 127.0.0.1:PORT through Kestrel; stops on SIGTERM.
using var work = new PredictWork();
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture)));
var app = builder.Build();
app.MapPost("/v1/predict", async (HttpContext http) =>
{
    var read = await http.Request.BodyReader.ReadAsync();
    while (!read.IsCompleted)
    {
        http.Request.BodyReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        read = await http.Request.BodyReader.ReadAsync();
    }

    var (status, output) = Respond(work, read.Buffer);
    http.Request.BodyReader.AdvanceTo(read.Buffer.End);
    http.Response.StatusCode = status;
    http.Response.ContentType = "application/json";
    http.Response.ContentLength = output.WrittenCount;
    await http.Response.Body.WriteAsync(output.WrittenMemory);
});
app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine("listening"));
await app.RunAsync();

// The body as one span where Kestrel has it in one segment (a few KB usually are), as the agent's server hands it over.
static (int Status, ArrayBufferWriter<byte> Output) Respond(PredictWork work, ReadOnlySequence<byte> body)
{
    var output = new ArrayBufferWriter<byte>(4096);
    using var json = new Utf8JsonWriter(output);
    json.WriteStartObject();
    var status = body.IsSingleSegment ? work.Handle(body.FirstSpan, json) : work.Handle(body.ToArray(), json);
    json.WriteEndObject();
    json.Flush();
    return (status, output);
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// A device running several models (the fleet's first and its model lines, <see cref="Lines.ModelLines"/>): every
/// endpoint of one model under <c>/v1/models/NAME/</c> (<c>POST /v1/models/kws/predict</c> is <c>/v1/predict</c> of
/// model kws), and <c>GET /v1/models</c> listing each model of the fleet's catalogue with its version here, or why
/// this device does not run it.
/// </summary>
public sealed partial class LocalApi
{
    private static ReadOnlySpan<byte> ModelsPath => "/v1/models"u8;

    private readonly ConditionalWeakTable<DeviceAgent, LocalApi> _lineApis = [];

    /// <summary>The endpoints of one model line's agent, answered through the first model's server.</summary>
    private LocalApi(DeviceAgent agent, LocalApiOptions options, ILogger logger, bool endpointsOnly)
    {
        Debug.Assert(endpointsOnly, "no server of its own");
        _agent = agent;
        _options = options;
        _logger = logger;
    }

    private LocalHttpServer Server => _server ?? throw new InvalidOperationException("a model line's endpoints are served by the first model's server");

    private int Models(LocalHttpRequest request, Utf8JsonWriter json)
    {
        var path = request.Path;
        if (path.Length == ModelsPath.Length || (path.Length == ModelsPath.Length + 1 && path[^1] == (byte)'/'))
        {
            return request.Method.SequenceEqual("GET"u8) ? ListModels(json) : NotAllowed(request, json);
        }

        if (path[ModelsPath.Length] != (byte)'/') return Error(json, 404, $"no endpoint {Encoding.UTF8.GetString(path)}");
        var rest = path[(ModelsPath.Length + 1)..];
        var slash = rest.IndexOf((byte)'/');
        if (slash <= 0) return Error(json, 404, $"no endpoint {Encoding.UTF8.GetString(path)}: a model's endpoints are /v1/models/NAME/predict, /v1/models/NAME/model, ...");
        var name = Encoding.UTF8.GetString(rest[..slash]);
        byte[] inner = [.. "/v1"u8, .. rest[slash..]];
        var target = ApiOf(name, out var why);
        return target is null ? Error(json, 404, why) : ((ILocalHttpHandler)target).Handle(new LocalHttpRequest(request.Method, inner, request.Body), json);
    }

    /// <summary>The endpoints of model <paramref name="name"/> on this device, or null with why it has none.</summary>
    private LocalApi? ApiOf(string name, out string why)
    {
        why = string.Empty;
        if (name == _agent.CurrentModel?.ModelName) return this;
        if (_lines?[name] is { } line) return _lineApis.GetValue(line, agent => new LocalApi(agent, _options, _logger, endpointsOnly: true));
        var state = _lines?.States.FirstOrDefault(s => s.Name == name);
        var known = string.Join(", ", RunningModels());
        why = state is null ? $"no model '{name}' on this device (it runs: {known})" : $"model '{name}' does not run on this device: {state.Notice}";
        return null;
    }

    private IEnumerable<string> RunningModels() =>
        new[] { _agent.CurrentModel?.ModelName }.Concat(_lines?.States.Where(s => s.Runs).Select(s => s.Name) ?? []).OfType<string>();

    private int ListModels(Utf8JsonWriter json)
    {
        json.WriteStartArray("models");
        WriteModel(json, _agent.CurrentModel?.ModelName ?? string.Empty, _agent, runs: true, memoryRequest: 0, notice: _agent.ModelNotice);
        foreach (var state in _lines?.States ?? [])
        {
            WriteModel(json, state.Name, state.Runs ? _lines![state.Name] : null, state.Runs, state.MemoryRequestBytes, state.Notice);
        }

        json.WriteEndArray();
        return 200;
    }

    private static void WriteModel(Utf8JsonWriter json, string name, DeviceAgent? agent, bool runs, ulong memoryRequest, string notice)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteBoolean("runs", runs);
        json.WriteNumber("version", agent?.ModelVersion ?? 0);
        if (memoryRequest > 0) json.WriteNumber("memoryRequestBytes", memoryRequest);
        if (notice.Length > 0) json.WriteString("notice", notice);
        json.WriteEndObject();
    }
}

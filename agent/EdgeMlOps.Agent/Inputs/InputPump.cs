using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// Feeds an input source into the agent: labelled records (a regressor's: with a target) become training samples,
/// the others are predicted (results written as JSON lines, if an output is given: a class, or a regressor's values).
/// </summary>
public sealed partial class InputPump(DeviceAgent agent, IInputSource source, ILogger logger, TextWriter? predictions = null)
{
    public long Predicted { get; private set; }

    public long Learned { get; private set; }

    public long Rejected { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var record in source.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (record.Label is { } label)
                {
                    agent.Feedback(record.Features, label);
                    Learned++;
                    continue;
                }

                if (record.Target is { } target)
                {
                    agent.FeedbackTarget(record.Features, target);
                    Learned++;
                    continue;
                }

                var line = agent.CurrentModel?.Architecture.Graph is { } g && Shared.Models.ModelArchitectures.TakesTargets(g)
                    ? Format(agent.PredictValues(record.Features), g)
                    : Format(agent.Predict(record.Features));
                Predicted++;
                if (predictions is not null)
                {
                    await predictions.WriteLineAsync(line).ConfigureAwait(false);
                    await predictions.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // Wrong feature count, or no model yet: count and go on.
                Rejected++;
                LogRejected(source.Name, ex.Message);
            }
        }
    }

    private static string Format(PredictionResult result) => Format(result.PredictionId, result.ModelVersion, w => w.WriteNumber("label", result.Label));

    private static string Format(Serving.ValuePrediction result, Shared.Protocol.V1.GraphInterfaceSpec graph) =>
        Format(result.PredictionId, result.ModelVersion, w => Http.LocalApi.WriteAnswer(w, result.Values, graph));

    private static string Format(string predictionId, ulong version, Action<Utf8JsonWriter> answer)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("predictionId", predictionId);
            answer(w);
            w.WriteNumber("modelVersion", version);
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Input from {Source} rejected: {Reason}")]
    private partial void LogRejected(string source, string reason);
}

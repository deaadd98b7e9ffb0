using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator;

/// <summary>The current version scored on devices' own labelled data; no sample leaves a device.</summary>
public sealed record FederatedEvaluationReport(string RoundId, ulong Version, int Selected, int Reported, long Samples, double Accuracy, double Loss);

public sealed partial class AggregatorNode
{
    private FederatedEvaluation? _openEvaluation;
    private long _evaluations;

    /// <summary>
    /// Asks up to <paramref name="devices"/> eligible devices to evaluate the current version on their
    /// local samples and combines the answers weighted by sample count (deadline as for rounds).
    /// </summary>
    public async Task<FederatedEvaluationReport> RunFederatedEvaluationAsync(int devices, CancellationToken cancellationToken)
    {
        await _roundGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _current;
            var number = Interlocked.Increment(ref _evaluations);
            var roundId = $"{_options.ModelName}-eval-{number}-v{current.Record.Version}-{Guid.NewGuid():N}";
            var ids = Devices.Eligible().Select(d => d.DeviceId).ToArray();
            var context = new RoundContext(number, ids.Length, Math.Min(devices, ids.Length), Math.Min(devices, ids.Length), (ulong)_options.Seed);
            var plan = Strategy.ConfigureEvaluate(context, ids, BaseTrainConfig());
            var selected = plan.Selected.ToArray();
            var evaluation = new FederatedEvaluation(roundId, current.Record.Version, selected, Strategy);
            Volatile.Write(ref _openEvaluation, evaluation);
            var deadline = _time.GetUtcNow() + _options.Rounds.ReportDeadline;
            foreach (var deviceId in selected)
            {
                var task = new RoundTask
                {
                    Header = NewHeader(),
                    RoundId = roundId,
                    ModelName = _options.ModelName,
                    BaseVersion = current.Record.Version,
                    Kind = TaskKind.Evaluate,
                    Config = plan.Config,
                    DeadlineUnixMs = deadline.ToUnixTimeMilliseconds(),
                    DeviceId = deviceId,
                };
                await _publisher.PublishAsync(_topics.Task(deviceId), Keys.Sign(task).ToByteArray(), cancellationToken).ConfigureAwait(false);
            }

            using (var timeout = new CancellationTokenSource(Remaining(deadline), _time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
            {
                try
                {
                    await evaluation.AllReported.Task.WaitAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }

            Volatile.Write(ref _openEvaluation, null);
            return evaluation.Report();
        }
        finally
        {
            _roundGate.Release();
        }
    }

    private void OnEvaluation(string deviceId, EvaluationResult result)
    {
        if (result.Header is null || result.Header.ProtocolVersion != ProtocolInfo.CurrentVersion || result.Header.SenderId != deviceId)
        {
            Reject(deviceId, RejectionReason.Malformed, "evaluation without a matching v1 header");
            return;
        }

        var evaluation = Volatile.Read(ref _openEvaluation);
        if (evaluation is null || evaluation.RoundId != result.RoundId)
        {
            Reject(deviceId, RejectionReason.UnknownRound, $"evaluation '{result.RoundId}' is not open");
            return;
        }

        if (!evaluation.TryAdd(deviceId, result, out var reason)) Reject(deviceId, reason, "evaluation refused");
        LogEvaluation(deviceId, result.Version, result.Accuracy, result.SampleCount);
    }

    private sealed class FederatedEvaluation(string roundId, ulong version, string[] selected, FederatedStrategy strategy)
    {
        private readonly HashSet<string> _selected = new(selected, StringComparer.Ordinal);
        private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
        private readonly List<EvaluationResult> _results = new();

        public string RoundId { get; } = roundId;

        public TaskCompletionSource AllReported { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool TryAdd(string deviceId, EvaluationResult result, out RejectionReason reason)
        {
            lock (_reported)
            {
                RejectionReason? problem = !_selected.Contains(deviceId) ? RejectionReason.NotSelected
                    : result.Version != version ? RejectionReason.WrongBaseVersion
                    : !double.IsFinite(result.Accuracy) || result.Accuracy is < 0 or > 1 || (result.SampleCount > 0 && !double.IsFinite(result.Loss)) ? RejectionReason.NonFinite
                    : _reported.Contains(deviceId) ? RejectionReason.Duplicate
                    : null;
                reason = problem.GetValueOrDefault();
                if (problem is not null) return false;
                _reported.Add(deviceId);
                _results.Add(result);
                if (_reported.Count == _selected.Count) AllReported.TrySetResult();
                return true;
            }
        }

        public FederatedEvaluationReport Report()
        {
            lock (_reported)
            {
                var summary = strategy.AggregateEvaluate(_results);
                return new FederatedEvaluationReport(RoundId, version, _selected.Count, _reported.Count, summary.Samples, summary.Accuracy, summary.Loss);
            }
        }
    }
}

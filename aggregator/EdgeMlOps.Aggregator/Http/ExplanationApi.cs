using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// Explanations in the admin API: a version's explanation (<c>GET …/versions/{v}/explanation</c>, viewer) and a federated
/// evaluation of the training head on devices' own data, optionally measuring permutation importance there
/// (<c>POST /v1/admin/evaluations</c>, operator; answers when the devices have, at the latest at the report deadline).
/// </summary>
internal static class ExplanationApi
{
    /// <summary>Inputs measured on devices when the request names none: the held-out explanation's top ones, or all of a narrow model.</summary>
    private const int DefaultImportanceInputs = 32;

    public static void Map(RouteGroupBuilder admin)
    {
        admin.MapGet("/models/{name}/versions/{version}/explanation", (HttpContext http, string name, ulong version, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry, [FromServices] VersionExplainer explainer) =>
            guard.Run(http, AdminRoles.Viewer, _ =>
            {
                if (registry.Version(name, version) is not { } v) return Results.NotFound(new { error = $"no version {name} v{version}" });
                var view = new ExplanationsView(explainer.For(v), explainer.Federated(v));
                return view.HeldOut is null && view.Federated is null
                    ? Results.Conflict(new { error = "no held-out evaluation data on the aggregator (Aggregator:Evaluation:DataFile) and no federated evaluation measured importance: nothing to explain on" })
                    : Results.Json(view, ExplanationJson.Default.ExplanationsView);
            }));

        admin.MapPost("/evaluations", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] FederatedEvaluationRunner runner, [FromServices] ModelRepository models,
            [FromServices] VersionExplainer explainer, [FromServices] AggregatorOptions options) =>
            guard.RunWithBody(http, AdminRoles.Operator, ExplanationJson.Default.EvaluationRequest, async (_, body) =>
            {
                var devices = body.Devices ?? 100;
                if (devices is < 1 or > 1_000_000) throw new BadRequestException("'devices' must be in [1, 1000000]");
                var inputs = body.ImportanceInputs ?? (body.Importance == true ? DefaultInputs(options, models, explainer) : []);
                if (inputs.Any(i => i < 0 || i >= options.Model.InputDim)) throw new BadRequestException($"'importanceInputs' must be in [0, {options.Model.InputDim})");
                if (inputs.Count > options.Model.InputDim) throw new BadRequestException("'importanceInputs' lists more inputs than the model has");
                var curves = body.DependenceInputs ?? [];
                if (curves.Any(i => i < 0 || i >= options.Model.InputDim) || curves.Count > 64) throw new BadRequestException($"'dependenceInputs' must be at most 64 inputs in [0, {options.Model.InputDim})");
                FederatedEvaluationReport report;
                try
                {
                    report = await runner.RunAsync(devices, http.RequestAborted, inputs, curves).ConfigureAwait(false);
                }
                catch (InvalidOperationException ex)
                {
                    throw new BadRequestException(ex.Message); // no reference profile to place a grid on
                }

                return Results.Json(report, ExplanationJson.Default.FederatedEvaluationReport);
            }));
    }

    private static IReadOnlyList<int> DefaultInputs(AggregatorOptions options, ModelRepository models, VersionExplainer explainer)
    {
        if (options.Model.InputDim <= DefaultImportanceInputs) return Enumerable.Range(0, options.Model.InputDim).ToArray();
        if (explainer.For(models.Head.Record) is { } heldOut) return heldOut.Top(DefaultImportanceInputs).Select(i => i.Input).ToArray();
        throw new BadRequestException($"the model has {options.Model.InputDim} inputs and no held-out explanation ranks them: name up to {options.Model.InputDim} in 'importanceInputs'");
    }
}

/// <summary>
/// A federated evaluation: how many devices to ask, whether (or for which inputs) to measure permutation importance on
/// them, and for which inputs partial dependence.
/// </summary>
public sealed record EvaluationRequest(int? Devices, bool? Importance, IReadOnlyList<int>? ImportanceInputs, IReadOnlyList<int>? DependenceInputs = null);

using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The retraining pipeline in the admin API: viewers read the policy, the active run and the history (each run's
/// timeline and gate verdicts); operators start a run by hand, pause, resume and stop; approvers approve a candidate
/// waiting for approval (never its creator; distinct people when the policy asks for two).
/// </summary>
internal static class PipelineApi
{
    public static void Map(RouteGroupBuilder admin)
    {
        admin.MapGet("/pipeline", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Json(pipeline.View(), PipelineJson.Default.PipelineView)));

        admin.MapGet("/pipeline/runs/{id}", (HttpContext http, string id, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.Run(http, AdminRoles.Viewer, _ => pipeline.Find(id) is { } run
                ? Results.Json(run, PipelineJson.Default.PipelineRun)
                : Results.NotFound(new { error = $"no pipeline run {id}" })));

        admin.MapPost("/pipeline/runs", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.RunWithBody(http, AdminRoles.Operator, AdminJson.Default.ReasonRequest, (who, body) =>
            {
                var run = pipeline.Start(new PipelineTrigger("manual", AdminGuard.Required(body.Reason, "reason")), who.Name);
                return Results.Json(run, PipelineJson.Default.PipelineRun, statusCode: StatusCodes.Status201Created);
            }));

        admin.MapPost("/pipeline/approve", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.RunWithBody(http, AdminRoles.Approver, AdminJson.Default.ReasonRequest, async (who, body) =>
                Results.Json(await pipeline.ApproveAsync(who.Name, AdminGuard.Required(body.Reason, "reason"), http.RequestAborted).ConfigureAwait(false), PipelineJson.Default.PipelineRun)));

        admin.MapPost("/pipeline/stop", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.RunWithBody(http, AdminRoles.Operator, AdminJson.Default.ReasonRequest, async (who, body) =>
                Results.Json(await pipeline.StopAsync(who.Name, AdminGuard.Required(body.Reason, "reason"), http.RequestAborted).ConfigureAwait(false), PipelineJson.Default.PipelineRun)));

        // The policy is a governance decision: approvers set it (kept in the registry, audited) or hand it back to configuration.
        admin.MapPut("/pipeline/policy", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.RunWithBody(http, AdminRoles.Approver, PipelineJson.Default.PolicyRequest, (who, body) =>
            {
                var reason = AdminGuard.Required(body.Reason, "reason");
                pipeline.Policies.Set(body.Policy ?? throw new BadRequestException("'policy' is required"), who.Name, reason);
                return Results.Json(pipeline.View(), PipelineJson.Default.PipelineView);
            }));

        admin.MapDelete("/pipeline/policy", (HttpContext http, string? reason, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
            guard.Run(http, AdminRoles.Approver, who =>
            {
                pipeline.Policies.Set(null, who.Name, AdminGuard.Required(reason, "reason"));
                return Results.Json(pipeline.View(), PipelineJson.Default.PipelineView);
            }));

        foreach (var action in new[] { "pause", "resume" })
        {
            admin.MapPost("/pipeline/" + action, (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RetrainingPipeline pipeline) =>
                guard.RunWithBody(http, AdminRoles.Operator, AdminJson.Default.ReasonRequest, (who, body) =>
                {
                    var reason = AdminGuard.Required(body.Reason, "reason");
                    if (action == "pause") pipeline.Pause(who.Name, reason);
                    else pipeline.Resume(who.Name, reason);
                    return Results.Json(pipeline.View(), PipelineJson.Default.PipelineView);
                }));
        }
    }
}

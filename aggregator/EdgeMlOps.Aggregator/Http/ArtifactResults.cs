using Microsoft.AspNetCore.Http;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>How an artifact is answered, by the aggregator and by an edge gateway alike: content-addressed, resumable.</summary>
public static class ArtifactResults
{
    /// <summary>A request naming no sha256.</summary>
    public static IResult BadId() => Results.BadRequest(new { error = "artifact id must be 64 lowercase hex characters (sha256)" });

    /// <summary>The file of <paramref name="sha256"/> (an absolute path), with range requests and its hash as the entity tag.</summary>
    public static IResult File(string path, string sha256) =>
        Results.File(path, "application/octet-stream", enableRangeProcessing: true, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{sha256}\""));
}

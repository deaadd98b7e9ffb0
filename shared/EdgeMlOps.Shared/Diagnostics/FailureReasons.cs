namespace EdgeMlOps.Shared.Diagnostics;

/// <summary>A failure said with what it wraps, for an operator: "The SSL connection could not be established: the server's certificate is refused: …", never "see inner exception".</summary>
public static class FailureReasons
{
    /// <summary>The messages of <paramref name="failure"/> and its inner exceptions, each once, joined by ": ".</summary>
    public static string Describe(Exception failure)
    {
        var reasons = new List<string>();
        for (var at = failure; at is not null; at = at.InnerException)
        {
            var reason = at.Message.Replace(", see inner exception", string.Empty, StringComparison.Ordinal).TrimEnd('.');
            if (reason.Length > 0 && !reasons.Contains(reason)) reasons.Add(reason);
        }

        return string.Join(": ", reasons);
    }
}

namespace EdgeMlOps.Agent.Serving;

/// <summary>One call of a streaming model's session as the shadow test sees it: the session, and whether the served version started it from zeros.</summary>
internal readonly record struct SessionCall(string SessionId, bool Reset);

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// Why a version other than the served one (an A/B test's arm B, a shadow candidate) could not answer a request the
/// served version takes: ONNX Runtime failed, or its front end refused the sample. Either is that version's failure,
/// counted as such; the served version answers.
/// </summary>
internal static class AnswerFailure
{
    public static bool Is(Exception ex) => ex is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or Runtime.SampleRefusedException;
}

namespace EdgeMlOps.Simulator;

/// <summary>The <c>--model-file</c> cannot be the simulated fleet's model; the message says why.</summary>
public sealed class ModelFileException(string message, Exception? inner = null) : Exception(message, inner);

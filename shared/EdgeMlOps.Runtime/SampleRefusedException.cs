namespace EdgeMlOps.Runtime;

/// <summary>
/// A sample the signed interface does not take, found only by running it through the declared front end: one whose
/// values make a count outside the signed range (a front end that drops silent frames kept fewer than the fewest). The
/// sample is at fault, not the model: a local API answers it as unprocessable; training leaves it out and counts it.
/// </summary>
public sealed class SampleRefusedException(string message) : Exception(message);

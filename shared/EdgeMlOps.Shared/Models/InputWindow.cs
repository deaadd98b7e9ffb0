namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Windowing that belongs to the device, declared with the interface and signed in the manifest: the model takes a
/// fixed window along <see cref="Axis"/> of <see cref="Input"/> (32 frames of audio features, 100 readings), while a
/// caller in a session streams chunks of any length up to the window's; the device keeps each session's window, shifts
/// every chunk in (the oldest values out, zeros before the first) and runs the model on the whole window.
/// </summary>
public sealed record InputWindow
{
    public InputWindow(string input, int axis)
    {
        if (string.IsNullOrEmpty(input)) throw new ArgumentException("a window names no input");
        if (axis is < 0 or >= TensorSignature.MaxRank) throw new ArgumentException($"the window of '{input}' is along axis {axis} (0 to {TensorSignature.MaxRank - 1})");
        Input = input;
        Axis = axis;
    }

    public string Input { get; }

    public int Axis { get; }

    public string CanonicalText => FormattableString.Invariant($"{Input}@{Axis}");

    /// <summary>The window's length: the input's fixed size along <see cref="Axis"/>; throws when the input cannot be windowed there.</summary>
    public int Length(TensorSignature input)
    {
        if (Axis >= input.Dims.Count || input.Dims[Axis] < 2)
            throw new ArgumentException($"the window of '{Input}' is along axis {Axis}; the input is {input.CanonicalText} (that axis must be fixed at 2 or more)");
        return (int)input.Dims[Axis];
    }
}

using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>A session's window of a streamed input: chunks shift in at the end along the window's axis, zeros before the first.</summary>
public class StreamWindowsTests
{
    // features [batch, 2 bins, 4 frames], windowed along the frames.
    private static readonly TensorSignature Declared = new("features", TensorElement.Float, [-1, 2, 4]);

    private static readonly InputWindow Frames = new("features", 2);

    private static NamedTensor Chunk(int frames, params float[] values) => new("features", TensorElement.Float, [1, 2, frames], values);

    [Fact]
    public void Chunks_ShiftIntoTheWindow_PerBin_OldestOut()
    {
        // Bin 0 carries 1, 2, 3, …; bin 1 carries 10, 20, 30, … in the same frames.
        var first = StreamWindows.Shift(Frames, Declared, null, Chunk(3, 1, 2, 3, 10, 20, 30));
        Assert.Equal([1L, 2, 4], first.Window.Dims);
        Assert.Equal([0f, 1, 2, 3, 0, 10, 20, 30], (float[])first.Window.Data);
        Assert.Equal(3, first.Filled);
        var second = StreamWindows.Shift(Frames, Declared, first, Chunk(2, 4, 5, 40, 50));
        Assert.Equal([2f, 3, 4, 5, 20, 30, 40, 50], (float[])second.Window.Data);
        Assert.Equal(4, second.Filled);
        var whole = StreamWindows.Shift(Frames, Declared, second, Chunk(4, 6, 7, 8, 9, 60, 70, 80, 90));
        Assert.Equal([6f, 7, 8, 9, 60, 70, 80, 90], (float[])whole.Window.Data);
    }

    [Fact]
    public void AChunkThatDoesNotFit_IsRefusedSayingWhy_AndAWindowOfAnotherShapeStartsAgain()
    {
        Assert.Contains("takes 1 to 4 along axis 2", Assert.Throws<ArgumentException>(() => StreamWindows.Shift(Frames, Declared, null, Chunk(5, new float[10]))).Message, StringComparison.Ordinal);
        Assert.Contains("takes 1 to 4 along axis 2", Assert.Throws<ArgumentException>(() => StreamWindows.Shift(Frames, Declared, null, new NamedTensor("features", TensorElement.Float, [1, 3, 2], new float[6]))).Message, StringComparison.Ordinal);
        Assert.Contains("has 3 values", Assert.Throws<ArgumentException>(() => StreamWindows.Shift(Frames, Declared, null, Chunk(2, 1, 2, 3))).Message, StringComparison.Ordinal);
        Assert.Contains("chunks of 3 axes", Assert.Throws<ArgumentException>(() => StreamWindows.Shift(Frames, Declared, null, new NamedTensor("features", TensorElement.Float, [2, 2], new float[4]))).Message, StringComparison.Ordinal);
        Assert.Contains("streamed as float chunks", Assert.Throws<ArgumentException>(() => StreamWindows.Shift(Frames, Declared, null, new NamedTensor("features", TensorElement.Float, [1, 2, 1], new double[2]))).Message, StringComparison.Ordinal); // values of another kind than the tensor says

        // The batch axis is the caller's: a window of batch 1 does not carry into a chunk of batch 2.
        var one = StreamWindows.Shift(Frames, Declared, null, Chunk(4, 1, 2, 3, 4, 5, 6, 7, 8));
        var two = StreamWindows.Shift(Frames, Declared, one, new NamedTensor("features", TensorElement.Float, [2, 2, 1], new float[] { 9, 9, 9, 9 }));
        Assert.Equal(1, two.Filled);
        Assert.Equal([0f, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9], (float[])two.Window.Data);
    }

    [Fact]
    public void AWindowMustBeOnAFixedAxis_OfAnInputTheModelHas()
    {
        var tensors = new TensorInterface([Declared], [new TensorSignature("score", TensorElement.Float, [-1, 1])], [], new string('a', 64));
        Assert.Contains("that axis must be fixed at 2 or more", Assert.Throws<ArgumentException>(() => tensors with { Windows = [new InputWindow("features", 0)] }).Message, StringComparison.Ordinal);
        Assert.Contains("names no input 'audio'", Assert.Throws<ArgumentException>(() => tensors with { Windows = [new InputWindow("audio", 1)] }).Message, StringComparison.Ordinal);
        Assert.Contains("windowed twice", Assert.Throws<ArgumentException>(() => tensors with { Windows = [Frames, Frames] }).Message, StringComparison.Ordinal);
        Assert.NotEqual(tensors.CanonicalText, (tensors with { Windows = [Frames] }).CanonicalText);
    }
}

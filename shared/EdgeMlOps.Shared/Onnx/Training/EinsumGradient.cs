using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Einsum (torch.einsum: attention scores, bilinear forms, batched contractions): the gradient of operand k is itself
/// an Einsum — dY contracted with the other operands onto k's subscripts. A letter only operand k has (summed away by
/// the forward pass) is put back by broadcasting. Ellipses are written out as letters when every operand's ellipsis
/// covers the same number of axes; a letter repeated within one operand (a diagonal or trace) is refused.
/// </summary>
internal static class EinsumGradient
{
    public static void Einsum(GradientContext c)
    {
        var (terms, output) = Parse(c);
        for (var k = 0; k < terms.Length; k++)
        {
            var term = terms[k];
            if (term.Distinct().Count() != term.Length) throw c.Refuse($"operand {k} repeats a subscript in '{term}' (a diagonal or trace has no gradient rule)");
            var others = Enumerable.Range(0, terms.Length).Where(i => i != k).ToArray();
            var lone = term.Where(l => !output.Contains(l) && others.All(i => !terms[i].Contains(l))).ToArray();
            var target = new string([.. term.Where(l => !lone.Contains(l))]);
            var equation = string.Join(',', [output, .. others.Select(i => terms[i])]) + "->" + target;
            var index = k;
            c.Give(index, () =>
            {
                var grad = c.W.Node("Einsum", [c.Dy, .. others.Select(c.Input)], Str("equation", equation));
                if (lone.Length == 0) return grad;
                var positions = lone.Select(l => (long)term.IndexOf(l)).ToArray();
                return c.W.Node("Expand", [c.W.Node("Unsqueeze", [grad, c.W.Int64s(positions)]), c.W.Shape(c.Input(index))]);
            });
        }
    }

    /// <summary>The operands' subscripts and the output's, explicit and with ellipses written out as letters.</summary>
    private static (string[] Terms, string Output) Parse(GradientContext c)
    {
        var equation = (GraphFacts.AttributeString(c.Node, "equation") ?? throw c.Refuse("Einsum without an equation")).Replace(" ", string.Empty, StringComparison.Ordinal);
        var arrow = equation.IndexOf("->", StringComparison.Ordinal);
        var terms = (arrow < 0 ? equation : equation[..arrow]).Split(',');
        if (terms.Length != c.Node.Input.Count) throw c.Refuse($"the equation '{equation}' has {terms.Length} operands for {c.Node.Input.Count} inputs");
        var letters = terms.SelectMany(t => t.Where(char.IsLetter)).ToArray();
        string output;
        if (arrow >= 0) output = equation[(arrow + 2)..];
        else
        {
            if (letters.Any(char.IsUpper) && letters.Any(char.IsLower)) throw c.Refuse("an implicit Einsum output with upper- and lower-case subscripts (their order differs between runtimes); write the output after '->'");
            output = (terms.Any(t => t.Contains("...", StringComparison.Ordinal)) ? "..." : string.Empty)
                + new string([.. letters.GroupBy(l => l).Where(g => g.Count() == 1).Select(g => g.Key).Order()]);
        }

        if (!terms.Any(t => t.Contains("...", StringComparison.Ordinal)) && !output.Contains("...", StringComparison.Ordinal)) return (terms, output);
        if (!output.Contains("...", StringComparison.Ordinal)) throw c.Refuse($"the ellipsis of '{equation}' is summed away; write its axes as letters");
        var spans = terms.Select((t, i) => t.Contains("...", StringComparison.Ordinal) ? c.RankOf(c.Input(i), "Einsum operand") - t.Count(char.IsLetter) : (int?)null).Where(n => n is not null).Distinct().ToArray();
        if (spans.Length != 1 || spans[0] < 0) throw c.Refuse($"the operands' ellipses in '{equation}' cover different numbers of axes (broadcast); write them as letters");
        var unused = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".Where(l => !letters.Contains(l) && !output.Contains(l)).Take(spans[0]!.Value).ToArray();
        if (unused.Length < spans[0]) throw c.Refuse("the ellipsis cannot be written out: too few unused subscript letters");
        var written = new string(unused);
        return ([.. terms.Select(t => t.Replace("...", written, StringComparison.Ordinal))], output.Replace("...", written, StringComparison.Ordinal));
    }
}

using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>Parses the text form of <see cref="ModelSpec"/> (<c>mlp-784-128-10</c>, <c>logreg-784-10</c>).</summary>
public static class ModelSpecText
{
    public static ModelSpec Parse(string text)
    {
        var parts = text.Split('-');
        if (parts.Length < 3 || (parts[0] != "mlp" && parts[0] != "logreg"))
        {
            throw new FormatException($"'{text}' is not a model spec (expected mlp-IN-H...-C or logreg-IN-C).");
        }

        var numbers = new int[parts.Length - 1];
        for (var i = 1; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i - 1]))
            {
                throw new FormatException($"'{parts[i]}' in model spec '{text}' is not a positive integer.");
            }
        }

        var hidden = numbers[1..^1];
        if (parts[0] == "logreg" && hidden.Length > 0)
        {
            throw new FormatException($"Logistic regression spec '{text}' cannot have hidden layers.");
        }

        return new ModelSpec(numbers[0], hidden, numbers[^1]);
    }
}

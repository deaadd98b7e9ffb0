using System.Security.Cryptography;
using System.Text;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// The categories of a string context input: a sample row keeps a string as its index among them, and the index equal
/// to their count stands for any string the model does not know — fed back to the model as the empty string, which the
/// encoders the categories are read from (OneHotEncoder, LabelEncoder, CategoryMapper of ai.onnx.ml) treat as they
/// treat every string outside their list. So a row is numbers like every other, and the model sees what it would have.
/// </summary>
public static class StringCategories
{
    /// <summary>Most categories one input may declare.</summary>
    public const int MaxCount = 4096;

    /// <summary>Longest category, in UTF-16 code units.</summary>
    public const int MaxLength = 256;

    /// <summary>What an unknown string is fed as; never a category.</summary>
    public const string Unknown = "";

    /// <summary>Why <paramref name="categories"/> cannot be declared for input <paramref name="input"/>, or null when they can.</summary>
    public static string? Problem(string input, IReadOnlyList<string> categories)
    {
        if (categories.Count == 0) return $"context input '{input}' is a string without categories (the strings a row keeps by index)";
        if (categories.Count > MaxCount) return $"context input '{input}' declares {categories.Count} categories (at most {MaxCount})";
        if (categories.Any(c => c.Length is 0 or > MaxLength)) return $"context input '{input}' has an empty category or one over {MaxLength} characters (the empty string is what an unknown one is fed as)";
        if (categories.Distinct(StringComparer.Ordinal).Count() != categories.Count) return $"context input '{input}' lists a category twice";
        return null;
    }

    /// <summary>The index a row keeps for <paramref name="value"/>: its position among the categories, or their count for one the model does not know.</summary>
    public static int IndexOf(IReadOnlyList<string> categories, string value)
    {
        for (var i = 0; i < categories.Count; i++)
        {
            if (string.Equals(categories[i], value, StringComparison.Ordinal)) return i;
        }

        return categories.Count;
    }

    /// <summary>The string a row's index stands for (after the row was checked: an index in [0, count]).</summary>
    public static string At(IReadOnlyList<string> categories, float index) => index < categories.Count ? categories[(int)index] : Unknown;

    /// <summary>16 hex digits of the sha256 of the categories in order, length-prefixed: what the canonical text of a signature carries.</summary>
    public static string Fingerprint(IReadOnlyList<string> categories)
    {
        var text = new StringBuilder();
        foreach (var category in categories) text.Append(category.Length).Append(':').Append(category);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }
}

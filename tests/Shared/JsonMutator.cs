using System.Text;

namespace EdgeMlOps.Tests;

/// <summary>
/// Mutates a valid JSON request the way a broken or hostile client would: tokens that overflow or are not numbers,
/// nulls, deep nesting, strings where numbers go, field names out of place, spans cut or doubled.
/// </summary>
internal static class JsonMutator
{
    private static readonly string[] Tokens =
    [
        "1e999", "-1e999", "3e38", "-3e38", "-0", "null", "[]", "{}", "\"x\"", "true", "9223372036854775808", "-1", "1.5", "0", "4294967296",
        "\"\\u0000\"", "[[[[[[[[[[1]]]]]]]]]]", ",", ":", "\"features\"", "\"label\"", "\"target\"", "\"set\"", "\"sweep\"", "\"inputs\"",
        "\"dims\"", "\"data\"", "\"session\"", "\"class\"", "\"predictionId\"", "\"deviceId\"", "\"token\"", "\"csr\"", "{\"a\":1}", "[1,2,3,4,5,6,7,8,9]",
    ];

    /// <summary>One to three edits of <paramref name="json"/>: a span swapped for a token, a token inserted, a span cut or doubled, a character changed.</summary>
    public static string Mutate(string json, Random random)
    {
        var text = new StringBuilder(json);
        for (var edits = random.Next(1, 4); edits > 0 && text.Length > 0; edits--)
        {
            var at = random.Next(text.Length);
            var length = Math.Min(random.Next(1, 12), text.Length - at);
            switch (random.Next(5))
            {
                case 0: text.Remove(at, length).Insert(at, Tokens[random.Next(Tokens.Length)]); break;
                case 1: text.Insert(at, Tokens[random.Next(Tokens.Length)]); break;
                case 2: text.Remove(at, length); break;
                case 3: text.Insert(at, text.ToString(at, length)); break;
                default: text[at] = (char)random.Next(32, 127); break;
            }
        }

        return text.ToString();
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>What a gate decides: wait for more evidence, pass (advance), or fail (abort the rollout).</summary>
public enum GateOutcome
{
    Wait,
    Pass,
    Fail,
}

/// <summary>
/// A gate's decision and its reason, made once by the gate and acted on by the rollout manager by its
/// <see cref="Outcome"/>. The API, the CLI and the console read it as its text — <c>pass</c>, <c>pass: …</c>,
/// <c>wait: …</c>, <c>fail: …</c> — which <see cref="Parse"/> reads back.
/// </summary>
[JsonConverter(typeof(GateVerdictJsonConverter))]
public sealed record GateVerdict(GateOutcome Outcome, string Reason)
{
    /// <summary>Passed with nothing more to say (every check met).</summary>
    public static readonly GateVerdict Passed = new(GateOutcome.Pass, string.Empty);

    public static GateVerdict Pass(string reason) => new(GateOutcome.Pass, reason);

    public static GateVerdict Wait(string reason) => new(GateOutcome.Wait, reason);

    public static GateVerdict Fail(string reason) => new(GateOutcome.Fail, reason);

    public override string ToString()
    {
        var word = Outcome switch { GateOutcome.Pass => "pass", GateOutcome.Fail => "fail", _ => "wait" };
        return Reason.Length == 0 ? word : word + ": " + Reason;
    }

    /// <summary>Reads a verdict's text; anything that is not one is a <see cref="FormatException"/> naming it.</summary>
    public static GateVerdict Parse(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var (word, reason) = colon < 0 ? (text, string.Empty) : (text[..colon], text[(colon + 1)..].Trim());
        return word switch
        {
            "pass" => reason.Length == 0 ? Passed : Pass(reason),
            "wait" when reason.Length > 0 => Wait(reason),
            "fail" when reason.Length > 0 => Fail(reason),
            _ => throw new FormatException($"'{text}' is not a gate verdict (pass, pass: …, wait: …, fail: …)"),
        };
    }
}

/// <summary>Writes and reads a <see cref="GateVerdict"/> as its text, the form the API has always had.</summary>
public sealed class GateVerdictJsonConverter : JsonConverter<GateVerdict>
{
    public override GateVerdict Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("a gate verdict is a string");
        try
        {
            return GateVerdict.Parse(reader.GetString()!);
        }
        catch (FormatException e)
        {
            throw new JsonException(e.Message, e);
        }
    }

    public override void Write(Utf8JsonWriter writer, GateVerdict value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

using System.Text;
using System.Text.RegularExpressions;

namespace EdgeMlOps.Console.Tests;

/// <summary>One <c>dotnet run --project P -- ARGS</c> line of the README: the project and its arguments as typed.</summary>
internal sealed record ReadmeCommand(string Project, string[] Args)
{
    public override string ToString() => $"dotnet run --project {Project} -- {string.Join(' ', Args)}";
}

/// <summary>
/// The README's shell blocks under one heading, read so that a test runs the commands a reader would type: lines
/// joined at trailing backslashes, comments dropped, quoted words kept whole. A command the test needs that the
/// README no longer holds fails the test — the README and the test cannot drift apart.
/// </summary>
internal static partial class ReadmeCommands
{
    /// <summary>The repository root: the first directory above the test's output holding <c>EdgeMlOps.sln</c>.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Every <c>dotnet run</c> command in the bash blocks of the section headed <paramref name="heading"/>.</summary>
    public static IReadOnlyList<ReadmeCommand> Section(string heading)
    {
        var text = File.ReadAllText(Path.Combine(Root, "README.md"));
        var start = text.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        if (start < 0) throw new InvalidOperationException($"README.md has no section '{heading}'");
        var end = text.IndexOf("\n#", start + heading.Length + 2, StringComparison.Ordinal);
        var section = end < 0 ? text[start..] : text[start..end];
        var commands = new List<ReadmeCommand>();
        foreach (Match block in BashBlock().Matches(section))
        {
            foreach (var line in Lines(block.Groups[1].Value))
            {
                var words = Words(line);
                if (words is ["dotnet", "run", "--project", var project, .. var rest] && Array.IndexOf(rest, "--") is var dashes and >= 0)
                {
                    commands.Add(new ReadmeCommand(project, rest[(dashes + 1)..]));
                }
            }
        }

        return commands;
    }

    /// <summary>The one command of <paramref name="commands"/> whose arguments start with <paramref name="prefix"/>.</summary>
    public static ReadmeCommand Find(this IReadOnlyList<ReadmeCommand> commands, params string[] prefix) =>
        commands.SingleOrDefault(c => c.Args.Take(prefix.Length).SequenceEqual(prefix))
        ?? throw new InvalidOperationException($"the README no longer says '{string.Join(' ', prefix)}'");

    /// <summary>The built entry assembly of a project, in the same configuration as this test (what <c>dotnet run -c …</c> runs).</summary>
    public static string Binary(string project)
    {
        var directory = Path.Combine(Root, project);
        var csproj = Directory.GetFiles(directory, "*.csproj").Single();
        var name = AssemblyName().Match(File.ReadAllText(csproj)) is { Success: true } m ? m.Groups[1].Value : Path.GetFileNameWithoutExtension(csproj);
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // …/bin/Release/net10.0/
        var path = Path.Combine(directory, "bin", configuration, "net10.0", name + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built ({path}): build the solution first", path);
    }

    private static IEnumerable<string> Lines(string block)
    {
        var joined = new StringBuilder();
        foreach (var raw in block.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.EndsWith('\\'))
            {
                joined.Append(StripComment(line[..^1])).Append(' ');
                continue;
            }

            joined.Append(StripComment(line));
            if (joined.ToString().Trim() is { Length: > 0 } whole) yield return whole;
            joined.Clear();
        }
    }

    /// <summary>Drops a trailing comment: a '#' outside quotes that starts a word.</summary>
    private static string StripComment(string line)
    {
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] is '"' or '\'') quoted = !quoted;
            else if (line[i] == '#' && !quoted && (i == 0 || char.IsWhiteSpace(line[i - 1]))) return line[..i];
        }

        return line;
    }

    private static string[] Words(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var quote = '\0';
        foreach (var c in line)
        {
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else word.Append(c);
            }
            else if (c is '"' or '\'') quote = c;
            else if (char.IsWhiteSpace(c))
            {
                if (word.Length > 0) words.Add(word.ToString());
                word.Clear();
            }
            else word.Append(c);
        }

        if (word.Length > 0) words.Add(word.ToString());
        return [.. words];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EdgeMlOps.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException($"no EdgeMlOps.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex("```bash\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();

    [GeneratedRegex("<AssemblyName>([^<]+)</AssemblyName>")]
    private static partial Regex AssemblyName();
}

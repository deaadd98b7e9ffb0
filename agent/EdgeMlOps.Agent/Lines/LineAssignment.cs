using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Agent.Lines;

/// <summary>One line of the fleet's catalogue and what this device does with it: runs it, or why not.</summary>
public sealed record LineState(string Name, bool Runs, ulong MemoryRequestBytes, string Notice);

/// <summary>
/// Which lines of a catalogue a device runs: those whose cohort its tags are in, in catalogue order, while the sum of
/// their memory requests stays within the device's budget (a line that does not fit is skipped, and a later smaller
/// one may still fit) — decided on the device alone, from signed data and its own settings.
/// </summary>
public static class LineAssignment
{
    public static IReadOnlyList<LineState> Decide(ModelCatalogue catalogue, IReadOnlyDictionary<string, string> tags, long budgetBytes)
    {
        var states = new List<LineState>();
        ulong used = 0;
        foreach (var line in catalogue.Lines)
        {
            if (!RolloutMembership.InCohort(tags, line.Cohort))
            {
                states.Add(new LineState(line.Name, false, line.MemoryRequestBytes, $"not in its cohort ({string.Join(", ", line.Cohort.Select(c => $"{c.Key}={string.Join('|', c.Value.Values)}"))})"));
                continue;
            }

            if (used + line.MemoryRequestBytes > (ulong)Math.Max(0, budgetBytes))
            {
                states.Add(new LineState(line.Name, false, line.MemoryRequestBytes,
                    $"needs {line.MemoryRequestBytes >> 20} MiB; {((ulong)budgetBytes - Math.Min(used, (ulong)budgetBytes)) >> 20} MiB of the {budgetBytes >> 20} MiB budget (Agent:MemoryBudgetMb) left"));
                continue;
            }

            used += line.MemoryRequestBytes;
            states.Add(new LineState(line.Name, true, line.MemoryRequestBytes, string.Empty));
        }

        return states;
    }
}

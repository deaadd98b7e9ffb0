using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary><c>edgemlops devices list|token|revoke</c> and <c>edgemlops security events</c>: device identities and what the fleet refused.</summary>
internal static class SecurityCommands
{
    public static Command Devices(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var limit = new Option<int>("--limit") { Description = "The first N devices by id", DefaultValueFactory = _ => 1000 };
        var after = new Option<string?>("--after") { Description = "Start after this device id (the last of the page before)" };
        var list = new Command("list", "Enrolled devices: certificate serial and expiry, revocation") { limit, after };
        list.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var table = new Table().AddColumns("Device", "Certificate", "Valid until (UTC)", "Revoked", "Why");
            var page = $"/v1/admin/devices/enrollment?limit={r.GetValue(limit)}" + (r.GetValue(after) is { } from ? $"&after={Uri.EscapeDataString(from)}" : string.Empty);
            foreach (var d in (await client(r).GetAsync(page, ct).ConfigureAwait(false)).EnumerateArray())
            {
                table.AddRow(Cli.Cell(d, "deviceId"), Cli.Cell(d, "serial"), Cli.Cell(d, "notAfter"), Cli.Cell(d, "revokedAt"), Cli.Cell(d, "revocationReason"));
            }

            output.Write(table);
        }));

        var device = new Option<string?>("--device") { Description = "Bind the token to this device id (a re-flashed device)" };
        var hours = new Option<double>("--hours") { Description = "Hours the token stays valid", DefaultValueFactory = _ => 24 };
        var uses = new Option<int>("--uses") { Description = "Enrollments the token allows", DefaultValueFactory = _ => 1 };
        var token = new Command("token", "Create an enrollment token (printed once; only its hash is kept)") { device, hours, uses };
        token.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var body = new Dictionary<string, object> { ["hours"] = r.GetValue(hours), ["uses"] = r.GetValue(uses) };
            if (r.GetValue(device) is { } id) body["deviceId"] = id;
            var result = await client(r).PostAsync("/v1/admin/enrollment-tokens", JsonSerializer.Serialize(body, CliJson.Default.DictionaryStringObject), ct).ConfigureAwait(false);
            output.Profile.Out.Writer.WriteLine(result.GetProperty("token").GetString());
        }));

        var deviceId = new Argument<string>("id") { Description = "Device id" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var revoke = new Command("revoke", "Revoke a device: its connection drops at once; it cannot reconnect or enroll again") { deviceId, reason };
        revoke.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            await client(r).PostAsync($"/v1/admin/devices/{Uri.EscapeDataString(r.GetValue(deviceId)!)}/revoke", Cli.Reason(r.GetValue(reason)!), ct).ConfigureAwait(false);
            output.MarkupLine($"revoked [bold]{Markup.Escape(r.GetValue(deviceId)!)}[/]");
        }));

        return new Command("devices", "Device identities: enrollment tokens, certificates, revocation") { list, token, revoke };
    }

    public static Command Security(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var limit = new Option<int>("--limit") { Description = "Newest N events", DefaultValueFactory = _ => 50 };
        var events = new Command("events", "What the fleet refused or changed for security reasons, newest first") { limit };
        events.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var table = new Table().AddColumns("When (UTC)", "Kind", "Subject", "Detail");
            var path = "/v1/admin/security/events?limit=" + r.GetValue(limit).ToString(CultureInfo.InvariantCulture);
            foreach (var e in (await client(r).GetAsync(path, ct).ConfigureAwait(false)).EnumerateArray())
            {
                table.AddRow(Cli.Cell(e, "at"), Cli.Cell(e, "kind"), Cli.Cell(e, "subject"), Cli.Cell(e, "detail"));
            }

            output.Write(table);
        }));
        return new Command("security", "Security events") { events };
    }
}

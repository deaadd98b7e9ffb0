using Microsoft.Playwright;

namespace EdgeMlOps.Console.Tests;

/// <summary>
/// Headless Chromium driven by Playwright: Debian's <c>chromium</c> package (Playwright's own browser
/// downloads are not used), or the executable named by <c>EDGEMLOPS_CHROMIUM</c>.
/// </summary>
internal sealed class ConsoleBrowser : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private ConsoleBrowser(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("EDGEMLOPS_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <param name="trustedCa">A CA certificate (PEM file) the browser trusts, as an operator who imported the fleet's
    /// <c>ca.crt</c> would: put into the NSS database of a home directory of the browser's own (certutil, Debian's
    /// libnss3-tools), which Chromium on Linux reads its user trust anchors from.</param>
    public static async Task<ConsoleBrowser> LaunchAsync(string? trustedCa = null)
    {
        if (!File.Exists(ExecutablePath)) throw new InvalidOperationException($"no Chromium at {ExecutablePath}: apt-get install chromium (.ci/run does), or set EDGEMLOPS_CHROMIUM");
        var playwright = await Playwright.CreateAsync();

        // The sandbox needs user namespaces a root CI container may not have; the page is our own console.
        var options = new BrowserTypeLaunchOptions { ExecutablePath = ExecutablePath, Headless = true, Args = ["--no-sandbox"] };
        if (trustedCa is not null) options.Env = new Dictionary<string, string> { ["HOME"] = await HomeTrustingAsync(trustedCa) };
        var browser = await playwright.Chromium.LaunchAsync(options);
        return new ConsoleBrowser(playwright, browser);
    }

    private static async Task<string> HomeTrustingAsync(string caPem)
    {
        var home = Path.Combine(Path.GetTempPath(), "edgemlops-browser-" + Guid.NewGuid().ToString("N"));
        var nss = Path.Combine(home, ".pki", "nssdb");
        Directory.CreateDirectory(nss);
        await CertutilAsync("-N", "-d", "sql:" + nss, "--empty-password");
        await CertutilAsync("-A", "-d", "sql:" + nss, "-n", "edgemlops-fleet-ca", "-t", "C,,", "-i", caPem);
        return home;
    }

    private static async Task CertutilAsync(params string[] arguments)
    {
        System.Diagnostics.Process certutil;
        try
        {
            certutil = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("certutil", arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("no certutil: apt-get install libnss3-tools (.ci/run does)", ex);
        }

        using (certutil)
        {
            var error = await certutil.StandardError.ReadToEndAsync();
            await certutil.WaitForExitAsync();
            if (certutil.ExitCode != 0) throw new InvalidOperationException($"certutil {string.Join(' ', arguments)}: {error.Trim()}");
        }
    }

    /// <summary>
    /// A fresh page (its own session storage) signed in with <paramref name="token"/>. <paramref name="ignoreHttpsErrors"/>:
    /// for a console served over HTTPS by a certificate of a CA the browser was not launched trusting.
    /// </summary>
    public async Task<IPage> SignInAsync(Uri console, string token, bool ignoreHttpsErrors = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, IgnoreHTTPSErrors = ignoreHttpsErrors });
        var page = await context.NewPageAsync();
        await page.GotoAsync(console.ToString());
        await page.FillAsync("#token", token);
        await page.ClickAsync("#login-form button[type=submit]");
        await Assertions.Expect(page.Locator("#tabs")).ToBeVisibleAsync();
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}

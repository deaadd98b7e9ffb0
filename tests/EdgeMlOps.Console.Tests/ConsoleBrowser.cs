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

    public static async Task<ConsoleBrowser> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath)) throw new InvalidOperationException($"no Chromium at {ExecutablePath}: apt-get install chromium (.ci/run does), or set EDGEMLOPS_CHROMIUM");
        var playwright = await Playwright.CreateAsync();

        // The sandbox needs user namespaces a root CI container may not have; the page is our own console.
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ExecutablePath, Headless = true, Args = ["--no-sandbox"] });
        return new ConsoleBrowser(playwright, browser);
    }

    /// <summary>
    /// A fresh page (its own session storage) signed in with <paramref name="token"/>. <paramref name="ignoreHttpsErrors"/>:
    /// the console is served over HTTPS by a certificate of the fleet's own CA, which this browser profile does not
    /// hold (an operator imports <c>ca.crt</c>; the CLI and curl pin it).
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

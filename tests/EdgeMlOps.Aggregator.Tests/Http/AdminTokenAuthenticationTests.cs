using System.Security.Claims;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace EdgeMlOps.Aggregator.Tests.Http;

/// <summary>The admin token as an ASP.NET Core scheme: who a token is, the roles it carries, and policies any scheme's principal can meet.</summary>
public sealed class AdminTokenAuthenticationTests : IDisposable
{
    private readonly ServiceProvider _services;

    public AdminTokenAuthenticationTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions { Identities = [new AdminIdentity("alice", AdminIdentity.HashToken("alice-token"), new HashSet<string> { AdminRoles.Approver, AdminRoles.Operator })] },
        });
        AdminTokenAuthentication.AddAdminAuthentication(services);
        _services = services.BuildServiceProvider();
    }

    public void Dispose() => _services.Dispose();

    private async Task<AuthenticateResult> AuthenticateAsync(string? authorization)
    {
        var http = new DefaultHttpContext { RequestServices = _services };
        if (authorization is not null) http.Request.Headers.Authorization = authorization;
        return await http.AuthenticateAsync(AdminTokenAuthentication.SchemeName);
    }

    private Task<AuthorizationResult> AuthorizeAsync(ClaimsPrincipal user, string role) =>
        _services.GetRequiredService<IAuthorizationService>().AuthorizeAsync(user, AdminTokenAuthentication.Policy(role));

    [Fact]
    public async Task AKnownToken_IsItsIdentity_WithItsRolesAndViewer()
    {
        var result = await AuthenticateAsync("Bearer alice-token");
        Assert.True(result.Succeeded);
        Assert.Equal("alice", result.Principal!.Identity!.Name);
        Assert.Equal([AdminRoles.Approver, AdminRoles.Operator, AdminRoles.Viewer], result.Principal.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal));
        Assert.True((await AuthorizeAsync(result.Principal, AdminRoles.Approver)).Succeeded);
        Assert.True((await AuthorizeAsync(result.Principal, AdminRoles.Viewer)).Succeeded);
        Assert.False((await AuthorizeAsync(result.Principal, AdminRoles.KeyAdmin)).Succeeded);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Basic YWxpY2U6eA==", null)]
    [InlineData("Bearer alice-tokeN", "unknown token")]
    [InlineData("Bearer ", "unknown token")]
    public async Task NoTokenOrAWrongOne_IsNobody(string? header, string? failure)
    {
        var result = await AuthenticateAsync(header);
        Assert.False(result.Succeeded);
        Assert.Equal(failure, result.Failure?.Message);
    }

    [Fact]
    public async Task APrincipalFromAnotherScheme_WithTheSameRoleClaims_MeetsTheSamePolicies()
    {
        // What an OpenID Connect or JWT bearer scheme would hand over: the policies are about roles, not about tokens.
        var fromIdp = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "sso:bob"), new Claim(ClaimTypes.Role, AdminRoles.KeyAdmin)], "oidc"));
        Assert.True((await AuthorizeAsync(fromIdp, AdminRoles.KeyAdmin)).Succeeded);
        Assert.False((await AuthorizeAsync(fromIdp, AdminRoles.Approver)).Succeeded);
    }
}

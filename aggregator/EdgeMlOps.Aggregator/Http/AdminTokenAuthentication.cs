using System.Security.Claims;
using System.Text.Encodings.Web;
using EdgeMlOps.Aggregator.Governance;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The admin API's identities as an ASP.NET Core authentication scheme: a bearer token, compared by its sha256 in
/// constant time, becomes a principal with the identity's name and role claims (every identity is also a viewer).
/// Authorization is ASP.NET Core's: one policy per role (<see cref="AddAdminAuthentication"/>), so another scheme —
/// an OpenID Connect/JWT bearer issuing the same role claims — can be added beside this one and reuse the policies.
/// </summary>
internal sealed class AdminTokenAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AggregatorOptions aggregator)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "EdgeMlOpsAdminToken";

    /// <summary>The policy that requires <paramref name="role"/>.</summary>
    public static string Policy(string role) => "admin:" + role;

    /// <summary>Registers the scheme and a policy per admin role.</summary>
    public static void AddAdminAuthentication(IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, AdminTokenAuthentication>(SchemeName, configureOptions: null);
        var policies = services.AddAuthorizationBuilder();
        foreach (var role in AdminRoles.All) policies.AddPolicy(Policy(role), p => p.AddAuthenticationSchemes(SchemeName).RequireRole(role));
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return Task.FromResult(AuthenticateResult.NoResult()); // the guard says "missing bearer token"
        var presented = AdminIdentity.HashToken(header["Bearer ".Length..].Trim());
        if (aggregator.Governance.Identities.FirstOrDefault(i => i.Matches(presented)) is not { } identity) return Task.FromResult(AuthenticateResult.Fail("unknown token"));
        var claims = new List<Claim> { new(ClaimTypes.Name, identity.Name) };
        claims.AddRange(AdminRoles.All.Where(identity.Has).Select(role => new Claim(ClaimTypes.Role, role)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }
}

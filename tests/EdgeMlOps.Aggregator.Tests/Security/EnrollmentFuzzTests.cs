using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Runtime.Security;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// Mutation fuzzing of the one HTTP route anyone on the device network reaches without a certificate or an admin token:
/// enrollment (<c>POST /v1/enroll</c>) and renewal (<c>POST /v1/enroll/renew</c>). Valid requests — the fleet token with a
/// CSR, a device's certificate with a CSR signed by its key — are mutated 1,500 times (<see cref="JsonMutator"/>, and
/// characters flipped inside the PEM blocks, making CSRs, certificates and signatures that do not parse or do not
/// verify). Every answer is below 500; every certificate issued is for the id the request named and the CSR's key, as a
/// device's (never the aggregator's name), and a device enrolls as before afterwards. Seeded: <c>EDGEMLOPS_FUZZ_SEED</c>.
/// </summary>
public sealed class EnrollmentFuzzTests(ITestOutputHelper output)
{
    private static int Seed => FuzzSeed.Value;

    private static string Json<T>(T request, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonSerializer.Serialize(request, type);

    /// <summary>One character of a PEM block's base64 changed, or the block cut: the same JSON around a body that no longer decodes or verifies.</summary>
    private static string FlipInsidePem(string json, Random random)
    {
        var starts = new List<int>();
        for (var at = json.IndexOf("-----BEGIN", StringComparison.Ordinal); at >= 0; at = json.IndexOf("-----BEGIN", at + 1, StringComparison.Ordinal)) starts.Add(at);
        if (starts.Count == 0) return json;
        var start = starts[random.Next(starts.Count)] + 40;
        var end = json.IndexOf("-----END", start, StringComparison.Ordinal);
        if (end <= start) return json;
        var at2 = random.Next(start, end);
        var text = new StringBuilder(json);
        if (random.Next(4) == 0) text.Remove(at2, Math.Min(random.Next(1, 200), end - at2));
        else text[at2] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[random.Next(65)];
        return text.ToString();
    }

    /// <summary>What the request does when handled in this process: the exception behind a 500, for the failure's message.</summary>
    private static string InProcess(AggregatorNode node, string path, string body)
    {
        try
        {
            return path.EndsWith("/renew", StringComparison.Ordinal)
                ? node.Security.Enrollment.Renew(JsonSerializer.Deserialize(body, EnrollmentJson.Default.RenewalRequest)!).Status.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : node.Security.Enrollment.Enroll(JsonSerializer.Deserialize(body, EnrollmentJson.Default.EnrollmentRequest)!).Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex)
        {
            return ex.ToString();
        }
    }

    [Fact]
    public async Task MutatedEnrollmentsAndRenewals_AreAnsweredBelow500_AndIssueOnlyWhatTheyShould()
    {
        // The sign-in throttle off: the mutations are to reach the parsers, not be answered 429 after the thirtieth guess.
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        await using var node = new AggregatorNode(options with { Security = options.Security with { MaxFailedSignInsPerMinute = 0 } });
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=whatever", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        using var current = node.Security.IssueDeviceCertificate("dev-r");
        var der = Convert.FromBase64String(csr[PemEncoding.Find(csr).Base64Data]);
        var signature = Convert.ToBase64String(current.GetECDsaPrivateKey()!.SignData(der, HashAlgorithmName.SHA256));
        (string Path, string Json)[] seeds =
        [
            ("/v1/enroll", Json(new EnrollmentRequest("dev-fuzz", node.Security.FleetEnrollmentToken, csr), EnrollmentJson.Default.EnrollmentRequest)),
            ("/v1/enroll/renew", Json(new RenewalRequest(current.ExportCertificatePem(), csr, signature), EnrollmentJson.Default.RenewalRequest)),
        ];

        var random = new Random(Seed);
        var statuses = new SortedDictionary<int, int>();
        for (var i = 0; i < 1500; i++)
        {
            var (path, json) = seeds[i % seeds.Length];
            var body = random.Next(3) == 0 ? FlipInsidePem(json, random) : JsonMutator.Mutate(json, random);
            using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            var status = (int)response.StatusCode;
            Assert.True(status < 500, $"{path} answered {status} to {body}: {InProcess(node, path, body)}");
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            if (status != 200) continue;

            // Whatever was taken issued a device's certificate for the CSR's key, named as a device may be named.
            var issued = await response.Content.ReadFromJsonAsync(EnrollmentJson.Default.EnrollmentResponse);
            using var certificate = X509Certificate2.CreateFromPem(issued!.CertificatePem);
            var identity = FleetIdentity.FromCertificate(certificate);
            Assert.Equal(FleetRole.Device, identity!.Role);
            Assert.DoesNotContain("aggregator", identity.Id, StringComparison.Ordinal);
            Assert.True(certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()));
        }

        output.WriteLine(string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 3, "the mutations reach several refusals");

        // A device enrolls as before.
        using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var ok = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-after", node.Security.FleetEnrollmentToken, new CertificateRequest("CN=x", fresh, HashAlgorithmName.SHA256).CreateSigningRequestPem()), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(200, (int)ok.StatusCode);
    }
}

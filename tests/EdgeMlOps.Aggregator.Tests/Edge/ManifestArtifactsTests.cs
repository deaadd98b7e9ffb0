using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Edge;

public class ManifestArtifactsTests
{
    private static Signed Manifest(params string[] sha256s)
    {
        var manifest = new ModelManifest { ModelName = "m", Version = 2 };
        foreach (var sha in sha256s) manifest.Artifacts.Add(new ArtifactRef { Name = "x", Sha256 = sha });
        return new Signed { BodyType = "ModelManifest", Body = manifest.ToByteString() };
    }

    [Fact]
    public void ARolloutPlan_NamesItsTargetsAndItsPreviousVersionsFiles_Once()
    {
        string a = new('a', 64), b = new('b', 64), c = new('c', 64);
        var plan = new RolloutPlan { RolloutId = "r", TargetManifest = Manifest(a, b), PreviousManifest = Manifest(b, c) };
        var payload = new Signed { BodyType = "RolloutPlan", Body = plan.ToByteString() }.ToByteArray();
        Assert.Equal([a, b, c], ManifestArtifacts.Named(isModel: false, payload));
    }

    [Fact]
    public void AnAnnouncement_NamesItsManifestsFiles_AndWhatIsNotAHashOrNotReadableNamesNothing()
    {
        var announcement = new ModelAnnouncement { ModelName = "m", Version = 2, Manifest = Manifest(new string('d', 64), "../../etc/passwd") };
        Assert.Equal([new string('d', 64)], ManifestArtifacts.Named(isModel: true, announcement.ToByteArray()));
        Assert.Empty(ManifestArtifacts.Named(isModel: true, [0xff, 0xff, 0xff]));
        Assert.Empty(ManifestArtifacts.Named(isModel: false, []));
    }
}

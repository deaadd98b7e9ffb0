using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Runtime.Tests.Channels;

public class TopicFilterTests
{
    [Theory]
    [InlineData("a/b/c", "a/b/c", true)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("a/+/c", "a/x/c", true)]
    [InlineData("a/+/c", "a/x/y/c", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("a/#", "ab/c", false)]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "$SYS/load", false)]
    [InlineData("+/load", "$SYS/load", false)]
    [InlineData("$SYS/#", "$SYS/load", true)]
    [InlineData("f/devices/+/status", "f/devices/d1/status", true)]
    [InlineData("f/devices/+/status", "f/devices/d1/update", false)]
    public void Matches_FollowsMqtt5(string filter, string topic, bool expected) =>
        Assert.Equal(expected, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a/b#")]
    [InlineData("a/b+/c")]
    [InlineData("")]
    [InlineData("$share/g")]
    [InlineData("$share//a/b")]
    [InlineData("$share/g+/a/b")]
    [InlineData("$share/g/a/#/b")]
    public void Validate_RefusesMalformedAndUnsupportedFilters(string filter) => Assert.NotNull(TopicFilter.Validate(filter));

    [Theory]
    [InlineData("a/+/c")]
    [InlineData("a/#")]
    [InlineData("a/b")]
    [InlineData("$share/aggregators/f/devices/+/update")]
    public void Validate_AcceptsWellFormedFilters(string filter) => Assert.Null(TopicFilter.Validate(filter));
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using MQTTnet.Server;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>The contract over MQTT 5 against MQTTnet's broker, configured as the aggregator embeds it.</summary>
public sealed class MqttNetBrokerChannelContractTests : FleetChannelContract
{
    /// <summary>MQTTnet's server has no shared subscriptions (dotnet/MQTTnet#1404): replicas need an external broker.</summary>
    protected override bool SharedSubscriptions => false;

    private MqttServer? _server;

    public override async Task InitializeAsync()
    {
        var port = BrokerPorts.Free();
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port)
            .WithPersistentSessions().Build());
        await _server.StartAsync();
        Broker = new MqttChannelFactory(new MqttEndpoint("127.0.0.1", port));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
        }
    }
}

/// <summary>The contract against Debian's Mosquitto 2 (the external broker; <c>.ci/run</c> installs it).</summary>
public sealed class MosquittoChannelContractTests : FleetChannelContract
{
    private const string MosquittoPath = "/usr/sbin/mosquitto";
    private Process? _mosquitto;

    public override async Task InitializeAsync()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var port = BrokerPorts.Free();
        _mosquitto = Process.Start(new ProcessStartInfo(MosquittoPath, ["-p", port.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        await BrokerPorts.WaitUntilListeningAsync(port);
        Broker = new MqttChannelFactory(new MqttEndpoint("127.0.0.1", port));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_mosquitto is not null)
        {
            _mosquitto.Kill();
            await _mosquitto.WaitForExitAsync();
            _mosquitto.Dispose();
        }
    }
}

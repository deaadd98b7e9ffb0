namespace EdgeMlOps.Simulator;

/// <summary>A gateway's path to the fleet's broker that a fault can cut (<c>--edge-outage</c>) and join again.</summary>
public interface ISeverableLink
{
    /// <summary>True while the path is cut.</summary>
    bool Severed { get; set; }
}

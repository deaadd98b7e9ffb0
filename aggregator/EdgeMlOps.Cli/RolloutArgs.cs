namespace EdgeMlOps.Cli;

/// <summary>The shadow phase asked for on the command line.</summary>
internal sealed record ShadowArgs(double Share, double SampleRate, long MinScored, double MinAgreement, bool RequireLabels);

/// <summary>The A/B test asked for on the command line.</summary>
internal sealed record AbArgs(double Share, double Split, string Mode, double Baseline, double MinEffect, string Metric = "accuracy", bool HigherIsBetter = true, double? StandardDeviation = null, string Unit = "Request", double? ClusterCorrelation = null, double? LabelsPerDevice = null);

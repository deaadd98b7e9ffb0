namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of the piecewise and smooth activations mobile and tabular models use beyond ReLU, Sigmoid and Tanh.</summary>
internal static class ActivationGradients
{
    public static void Abs(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Sign", [c.X])]));

    /// <summary>PRelu: dy where x &gt; 0, else slope·dy; the slope (broadcast to x) trains with dy·x where x ≤ 0.</summary>
    public static void PRelu(GradientContext c)
    {
        var positive = new Lazy<string>(() => Positive(c));
        var slope = c.Input(1);
        c.Give(0, () => c.W.Node("Where", [positive.Value, c.Dy, c.W.Node("Mul", [c.Dy, slope])]));
        c.Give(1, () => ElementwiseGradients.SumTo(c, c.W.Node("Where", [positive.Value, c.W.Scalar(0), c.W.Node("Mul", [c.Dy, c.X])]), 1));
    }

    /// <summary>Elu: dy where x &gt; 0, else dy·(y + α).</summary>
    public static void Elu(GradientContext c)
    {
        var alpha = c.Float("alpha", 1f);
        c.Give(0, () => c.W.Node("Where", [Positive(c), c.Dy, c.W.Node("Mul", [c.Dy, c.W.Node("Add", [c.Y, c.W.Scalar(alpha)])])]));
    }

    /// <summary>Selu: γ·dy where x &gt; 0, else dy·(y + γα).</summary>
    public static void Selu(GradientContext c)
    {
        var alpha = c.Float("alpha", 1.67326319217681884765625f);
        var gamma = c.Float("gamma", 1.05070102214813232421875f);
        c.Give(0, () => c.W.Node("Where", [Positive(c), c.W.Node("Mul", [c.Dy, c.W.Scalar(gamma)]),
            c.W.Node("Mul", [c.Dy, c.W.Node("Add", [c.Y, c.W.Scalar((double)gamma * alpha)])])]));
    }

    /// <summary>Softplus log(1 + eˣ): dy·σ(x).</summary>
    public static void Softplus(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Sigmoid", [c.X])]));

    /// <summary>Softsign x / (1 + |x|): dy / (1 + |x|)².</summary>
    public static void Softsign(GradientContext c) => c.Give(0, () =>
    {
        var denominator = c.W.Node("Add", [c.W.Scalar(1), c.W.Node("Abs", [c.X])]);
        return c.W.Node("Div", [c.Dy, c.W.Node("Mul", [denominator, denominator])]);
    });

    /// <summary>HardSigmoid max(0, min(1, αx + β)): α·dy where 0 &lt; αx + β &lt; 1.</summary>
    public static void HardSigmoid(GradientContext c)
    {
        var alpha = c.Float("alpha", 0.2f);
        var beta = c.Float("beta", 0.5f);
        c.Give(0, () =>
        {
            var z = c.W.Node("Add", [c.W.Node("Mul", [c.X, c.W.Scalar(alpha)]), c.W.Scalar(beta)]);
            var inside = c.W.Node("And", [c.W.Node("Greater", [z, c.W.Scalar(0)]), c.W.Node("Less", [z, c.W.Scalar(1)])]);
            return c.W.Node("Where", [inside, c.W.Node("Mul", [c.Dy, c.W.Scalar(alpha)]), c.W.Scalar(0)]);
        });
    }

    /// <summary>HardSwish x·max(0, min(1, x/6 + ½)): 0 below −3, dy above 3, dy·(x/3 + ½) between.</summary>
    public static void HardSwish(GradientContext c) => c.Give(0, () =>
    {
        var ramp = c.W.Node("Mul", [c.Dy, c.W.Node("Add", [c.W.Node("Div", [c.X, c.W.Scalar(3)]), c.W.Scalar(0.5)])]);
        var upper = c.W.Node("Where", [c.W.Node("Greater", [c.X, c.W.Scalar(3)]), c.Dy, ramp]);
        return c.W.Node("Where", [c.W.Node("Less", [c.X, c.W.Scalar(-3)]), c.W.Scalar(0), upper]);
    });

    /// <summary>Reciprocal 1/x: −dy·y².</summary>
    public static void Reciprocal(GradientContext c) => c.Give(0, () => c.W.Node("Neg", [c.W.Node("Mul", [c.Dy, c.W.Node("Mul", [c.Y, c.Y])])]));

    /// <summary>Mish x·tanh(softplus(x)) (opset 18; older exporters write Softplus, Tanh, Mul): dy·(t + x·(1 − t²)·σ(x)), t = tanh(softplus(x)).</summary>
    public static void Mish(GradientContext c) => c.Give(0, () =>
    {
        var t = c.W.Node("Tanh", [c.W.Node("Softplus", [c.X])]);
        var slope = c.W.Node("Mul", [c.X, c.W.Node("Mul", [c.W.Node("Sub", [c.W.Scalar(1), c.W.Node("Mul", [t, t])]), c.W.Node("Sigmoid", [c.X])])]);
        return c.W.Node("Mul", [c.Dy, c.W.Node("Add", [t, slope])]);
    });

    /// <summary>Celu max(0, x) + min(0, α(e^(x/α) − 1)): dy where x &gt; 0, else dy·e^(x/α).</summary>
    public static void Celu(GradientContext c)
    {
        var alpha = c.Float("alpha", 1f);
        c.Give(0, () => c.W.Node("Where", [Positive(c), c.Dy, c.W.Node("Mul", [c.Dy, c.W.Node("Exp", [c.W.Node("Div", [c.X, c.W.Scalar(alpha)])])])]));
    }

    /// <summary>ThresholdedRelu: dy where x &gt; α, else 0.</summary>
    public static void ThresholdedRelu(GradientContext c)
    {
        var alpha = c.Float("alpha", 1f);
        c.Give(0, () => c.W.Node("Where", [c.W.Node("Greater", [c.X, c.W.Scalar(alpha)]), c.Dy, c.W.Scalar(0)]));
    }

    /// <summary>Shrink (Softshrink, Hardshrink): dy where |x| &gt; λ, else 0.</summary>
    public static void Shrink(GradientContext c)
    {
        var lambd = c.Float("lambd", 0.5f);
        c.Give(0, () => c.W.Node("Where", [c.W.Node("Greater", [c.W.Node("Abs", [c.X]), c.W.Scalar(lambd)]), c.Dy, c.W.Scalar(0)]));
    }

    /// <summary>Trilu (torch.triu / tril): dY with the same triangle kept.</summary>
    public static void Trilu(GradientContext c) =>
        c.Give(0, () => c.W.Node("Trilu", [c.Dy, .. c.Node.Input.Skip(1)], [.. c.Node.Attribute]));

    private static string Positive(GradientContext c) => c.W.Node("Greater", [c.X, c.W.Scalar(0)]);
}

namespace AkkaFed.Model.Privacy;

/// <summary>
/// Arithmetic on numbers held as their natural logarithms (zero is negative infinity), as the RDP
/// accountant needs it: its terms span thousands of orders of magnitude.
/// </summary>
internal static class LogMath
{
    private const double Ln2 = 0.693147180559945309417232121458176568;
    private const double InverseSqrtPi = 0.564189583547756286948079451560772586;

    /// <summary>log(1 + x), accurate for tiny x.</summary>
    /// <remarks>
    /// Not <c>double.LogP1</c>: .NET computes it as <c>Log(x + 1)</c>, which loses every digit below
    /// 1e-16 (and half of them at 1e-8). This is Goldberg's correction: the rounding error of
    /// <c>1 + x</c> cancels in <c>x / (u - 1)</c>.
    /// </remarks>
    public static double Log1p(double x)
    {
        if (double.IsPositiveInfinity(x))
        {
            return x;
        }
        double u = 1.0 + x;
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>exp(x) - 1, accurate for tiny x.</summary>
    /// <remarks>
    /// Not <c>double.ExpM1</c>, which is <c>Exp(x) - 1</c> in .NET (it returns 0 for 1e-20).
    /// Kahan's correction: the rounding error of <c>exp(x)</c> cancels in <c>x / log(u)</c>.
    /// </remarks>
    public static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0)
        {
            return x;
        }
        double um1 = u - 1.0;
        if (um1 == -1.0 || double.IsPositiveInfinity(u))
        {
            return um1;
        }
        return um1 * x / Math.Log(u);
    }

    /// <summary>log(exp(a) + exp(b)).</summary>
    public static double LogAdd(double a, double b)
    {
        if (a < b)
        {
            (a, b) = (b, a);
        }
        if (double.IsNegativeInfinity(b))
        {
            return a;
        }
        return a + Log1p(Math.Exp(b - a));
    }

    /// <summary>log(exp(a) - exp(b)) for a &gt;= b; negative infinity when they are equal.</summary>
    public static double LogSub(double a, double b)
    {
        if (a < b)
        {
            throw new ArithmeticException($"log-space subtraction would be negative: log terms {a} - {b}");
        }
        if (double.IsNegativeInfinity(b))
        {
            return a;
        }
        if (a == b)
        {
            return double.NegativeInfinity;
        }
        return a + Log1mExp(a - b);
    }

    /// <summary>
    /// log(1 - exp(-d)) for d &gt; 0, switching formula at ln 2 so neither small nor large d loses
    /// digits (Mächler, "Accurately computing log(1 - exp(-|a|))", 2012).
    /// </summary>
    public static double Log1mExp(double d) =>
        d <= Ln2 ? Math.Log(-Expm1(-d)) : Log1p(-Math.Exp(-d));

    /// <summary>
    /// log(erfc(x)) for any x, finite far into the tail where erfc(x) itself underflows
    /// (erfc(27) is below the smallest double; log erfc(1e5) is about -1e10).
    /// </summary>
    /// <remarks>
    /// Uses W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for the
    /// error function", Math. Comp. 23, 1969; coefficients as in his CALERF, netlib specfun), which give
    /// erf near zero and the scaled function erfcx(x) = exp(x^2) erfc(x) beyond. For x &gt; 0.46875 the
    /// result is log(erfcx(x)) - x^2, so the Gaussian factor is never exponentiated and cannot underflow.
    /// </remarks>
    public static double LogErfc(double x)
    {
        double y = Math.Abs(x);
        if (y <= 0.46875)
        {
            return Math.Log(1.0 - ErfNearZero(x));
        }
        if (x > 0)
        {
            return Math.Log(Erfcx(y)) - y * y;
        }
        // erfc(x) = 2 - erfc(|x|), and erfc(|x|) < 0.51 here: nothing cancels.
        return Math.Log(2.0 - Math.Exp(-y * y) * Erfcx(y));
    }

    private static readonly double[] ErfA =
    {
        3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
        3.20937758913846947e03, 1.85777706184603153e-1,
    };

    private static readonly double[] ErfB =
    {
        2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
        2.84423683343917062e03,
    };

    private static readonly double[] ErfcxC =
    {
        5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
        2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
        2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8,
    };

    private static readonly double[] ErfcxD =
    {
        1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
        1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
        3.43936767414372164e03, 1.23033935480374942e03,
    };

    private static readonly double[] ErfcxP =
    {
        3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
        1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2,
    };

    private static readonly double[] ErfcxQ =
    {
        2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
        6.05183413124413191e-2, 2.33520497626869185e-3,
    };

    /// <summary>erf(x) for |x| &lt;= 0.46875.</summary>
    private static double ErfNearZero(double x)
    {
        double ysq = x * x;
        double numerator = ErfA[4] * ysq;
        double denominator = ysq;
        for (int i = 0; i < 3; i++)
        {
            numerator = (numerator + ErfA[i]) * ysq;
            denominator = (denominator + ErfB[i]) * ysq;
        }
        return x * (numerator + ErfA[3]) / (denominator + ErfB[3]);
    }

    /// <summary>exp(y^2) erfc(y) for y &gt; 0.46875.</summary>
    private static double Erfcx(double y)
    {
        if (y <= 4.0)
        {
            double numerator = ErfcxC[8] * y;
            double denominator = y;
            for (int i = 0; i < 7; i++)
            {
                numerator = (numerator + ErfcxC[i]) * y;
                denominator = (denominator + ErfcxD[i]) * y;
            }
            return (numerator + ErfcxC[7]) / (denominator + ErfcxD[7]);
        }
        // Asymptotic form; 1 / y^2 underflows to 0 for enormous y, which leaves the exact limit.
        double inverseSquare = 1.0 / (y * y);
        double tailNumerator = ErfcxP[5] * inverseSquare;
        double tailDenominator = inverseSquare;
        for (int i = 0; i < 4; i++)
        {
            tailNumerator = (tailNumerator + ErfcxP[i]) * inverseSquare;
            tailDenominator = (tailDenominator + ErfcxQ[i]) * inverseSquare;
        }
        double correction = inverseSquare * (tailNumerator + ErfcxP[4]) / (tailDenominator + ErfcxQ[4]);
        return (InverseSqrtPi - correction) / y;
    }
}

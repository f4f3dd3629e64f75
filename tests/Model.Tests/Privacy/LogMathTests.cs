using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests.Privacy;

public sealed class LogMathTests
{
    // Expected values are mpmath 1.3.0 at 50 significant digits: mp.log(mp.erfc(x)).
    [Theory]
    [InlineData(-5.0, 0.69314718055917657952)]
    [InlineData(-1.0, 0.61123231767807049464)]
    [InlineData(-0.3, 0.28414589714140825864)]
    [InlineData(0.0, 0.0)]
    [InlineData(0.2, -0.25193223378261666096)]
    [InlineData(0.46875, -0.67848218561439609899)]
    [InlineData(0.5, -0.73501112983708440303)]
    [InlineData(1.0, -1.8496055099332482486)]
    [InlineData(2.0, -5.3649412646166375745)]
    [InlineData(3.9, -17.173871216435403526)]
    [InlineData(4.0, -17.987778312103006503)]
    [InlineData(4.5, -22.349768303435940757)]
    [InlineData(10.0, -102.87988902484488857)]
    [InlineData(26.0, -679.83119976319423026)]
    [InlineData(30.0, -903.97411711064387808)]
    [InlineData(100.0, -10005.177585122664333)]
    [InlineData(1e5, -10000000012.085290408)]
    public void Log_erfc_matches_multi_precision_values_including_where_erfc_underflows(double x, double expected)
    {
        double actual = LogMath.LogErfc(x);

        Assert.True(Math.Abs(actual - expected) <= 1e-14 * Math.Max(1.0, Math.Abs(expected)),
            $"log erfc({x}) = {actual:R}, expected {expected:R}");
    }

    [Fact]
    public void Log_erfc_stays_finite_where_erfc_is_zero_in_double_precision()
    {
        // erfc(30) is about 2.6e-393, below the smallest double: a naive log(erfc(x)) gives -infinity.
        Assert.Equal(0.0, Math.Exp(-30.0 * 30.0));
        Assert.True(double.IsFinite(LogMath.LogErfc(30.0)));
    }

    // mpmath 1.3.0 at 50 digits: mp.log1p(x) and mp.expm1(x).
    [Theory]
    [InlineData(1e-10, 9.9999999995e-11, 1.00000000005e-10)]
    [InlineData(-1e-10, -1.00000000005e-10, -9.9999999995e-11)]
    [InlineData(1e-3, 0.00099950033308353316681, 0.0010005001667083416681)]
    [InlineData(0.5, 0.40546510810816438198, 0.64872127070012814685)]
    [InlineData(-0.5, -0.69314718055994530942, -0.3934693402873665764)]
    public void Log1p_and_expm1_keep_full_precision_for_small_arguments(double x, double log1p, double expm1)
    {
        Assert.Equal(log1p, LogMath.Log1p(x), 1e-15 * Math.Abs(log1p));
        Assert.Equal(expm1, LogMath.Expm1(x), 1e-15 * Math.Abs(expm1));
        Assert.Equal(1e-20, LogMath.Expm1(1e-20));
    }

    [Fact]
    public void Log_add_and_log_sub_agree_with_plain_arithmetic_and_survive_huge_logs()
    {
        Assert.Equal(Math.Log(5.0), LogMath.LogAdd(Math.Log(2.0), Math.Log(3.0)), 1e-15);
        Assert.Equal(Math.Log(1.0), LogMath.LogSub(Math.Log(3.0), Math.Log(2.0)), 1e-15);
        Assert.Equal(Math.Log(2.0), LogMath.LogAdd(double.NegativeInfinity, Math.Log(2.0)));
        Assert.Equal(double.NegativeInfinity, LogMath.LogSub(7.0, 7.0));
        // exp(1000) overflows; its logarithm does not.
        Assert.Equal(1000.0 + Math.Log(2.0), LogMath.LogAdd(1000.0, 1000.0), 1e-12);
        Assert.Equal(1000.0 + Math.Log(1.0 - Math.Exp(-1.0)), LogMath.LogSub(1000.0, 999.0), 1e-12);
        Assert.Throws<ArithmeticException>(() => LogMath.LogSub(1.0, 2.0));
    }
}

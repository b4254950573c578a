#include "nmcore/stats.h"

#include "nmcore/error.h"

#include <array>
#include <cmath>
#include <numbers>
#include <string>

namespace nm {

namespace {

// P(|T| ≤ t) for t = √ν·tan θ (Abramowitz & Stegun 26.7.3 odd ν, 26.7.4 even ν).
double twoSidedCdf(int dof, double theta)
{
    const double s = std::sin(theta), c = std::cos(theta), c2 = c * c;
    if (dof % 2 == 0) {
        double term = 1, sum = 1;
        for (int k = 2; k <= dof - 2; k += 2) {
            term *= c2 * (k - 1) / k;
            sum += term;
        }
        return s * sum;
    }
    double sum = 0;
    if (dof > 1) {
        double term = c;
        sum = c;
        for (int k = 3; k <= dof - 2; k += 2) {
            term *= c2 * (k - 1) / k;
            sum += term;
        }
    }
    return 2 / std::numbers::pi * (theta + s * sum);
}

} // namespace

double studentTQuantile(int dof, double coverage)
{
    if (dof < 1)
        throw Error("studentTQuantile: degrees of freedom must be at least 1, got " + std::to_string(dof));
    if (!(coverage > 0 && coverage < 1))
        throw Error("studentTQuantile: coverage must lie in (0, 1), got " + std::to_string(coverage));
    double lo = 0, hi = std::numbers::pi / 2;
    for (int i = 0; i < 60; ++i) {
        const double mid = 0.5 * (lo + hi);
        (twoSidedCdf(dof, mid) < coverage ? lo : hi) = mid;
    }
    return std::sqrt(static_cast<double>(dof)) * std::tan(0.5 * (lo + hi));
}

namespace {

// The 95 % quantiles for the seed counts a sweep has, computed once (a seed band asks for one
// per plotted point, and each takes 60 bisection steps).
double quantile(int dof, double coverage)
{
    constexpr int kTabled = 128;
    static const std::array<double, kTabled + 1> table = [] {
        std::array<double, kTabled + 1> t{};
        for (int d = 1; d <= kTabled; ++d)
            t[static_cast<size_t>(d)] = studentTQuantile(d, 0.95);
        return t;
    }();
    return coverage == 0.95 && dof >= 1 && dof <= kTabled ? table[static_cast<size_t>(dof)]
                                                          : studentTQuantile(dof, coverage);
}

} // namespace

MeanCi meanCi(std::span<const double> v, double coverage)
{
    MeanCi r;
    double sum = 0;
    for (double x : v)
        if (std::isfinite(x)) {
            sum += x;
            ++r.n;
        }
    r.mean = r.n > 0 ? sum / r.n : static_cast<double>(NAN);
    if (r.n < 2) {
        r.halfWidth = r.stddev = NAN;
        return r;
    }
    double ss = 0;
    for (double x : v)
        if (std::isfinite(x))
            ss += (x - r.mean) * (x - r.mean);
    r.stddev = std::sqrt(ss / (r.n - 1));
    r.halfWidth = quantile(r.n - 1, coverage) * r.stddev / std::sqrt(static_cast<double>(r.n));
    return r;
}

} // namespace nm

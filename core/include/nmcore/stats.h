#pragma once
// Statistics over seeds: the two-sided Student t quantile and a mean with its 95 % confidence
// interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n, s the sample standard deviation). Used by the GUI's seed
// bands and summary tables.
#include <span>

namespace nm {

// t such that P(|T| ≤ t) = coverage for Student's t with `dof` ≥ 1 degrees of freedom
// (coverage in (0, 1)); exact to ~1e-9 (Abramowitz & Stegun 26.7.3–4, solved by bisection).
double studentTQuantile(int dof, double coverage = 0.95);

struct MeanCi {
    double mean = 0;
    double halfWidth = 0; // NaN when n < 2 (no spread to estimate)
    double stddev = 0;    // sample standard deviation (n − 1); NaN when n < 2
    int n = 0;
    double lo() const { return mean - halfWidth; }
    double hi() const { return mean + halfWidth; }
};
// Mean and confidence interval of the finite values in v (non-finite ones are skipped);
// n = 0 gives a NaN mean.
MeanCi meanCi(std::span<const double> v, double coverage = 0.95);

} // namespace nm

#pragma once
// A run's schedules computed ahead of time from its config, with the same pure functions
// the recipes use (nmcore/sparsity.h, nmcore/optimizer.h): learning rate, α (the factor on
// pruned weights in W̃), the density N/M of the mask in use, λ, and the phase boundaries.
// Values are indexed like the logged metrics: the row at step s is the step that took the
// run from s−1 to s completed steps.
#include "nmcore/config.h"

#include <QString>

#include <vector>

namespace nmui {

struct PhaseMark {
    long step = 0;
    QString label;
};

struct PlannedSchedule {
    std::vector<double> step;
    std::vector<float> lr, alpha, density, lambda;
    std::vector<PhaseMark> marks;
};

// At most about `maxPoints` samples plus both sides of every phase boundary (the curves
// are step-shaped there). Throws nm::ConfigError for an invalid config.
PlannedSchedule planSchedule(const nm::RunConfig &config, int maxPoints = 1024);

} // namespace nmui

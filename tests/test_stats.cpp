// Student t quantiles against published table values, and the mean ± CI of seed groups.
#include "nmcore/error.h"
#include "nmcore/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

TEST(Stats, StudentTQuantilesMatchTheTables)
{
    // Two-sided 95 % (t₀.₉₇₅) and 99 % (t₀.₉₉₅) critical values, to the tables' 3 decimals.
    const struct {
        int dof;
        double t95, t99;
    } table[] = {{1, 12.706, 63.657}, {2, 4.303, 9.925},  {3, 3.182, 5.841},  {4, 2.776, 4.604},  {5, 2.571, 4.032},
                 {9, 2.262, 3.250},   {10, 2.228, 3.169}, {29, 2.045, 2.756}, {30, 2.042, 2.750}, {120, 1.980, 2.617}};
    for (const auto &row : table) {
        EXPECT_NEAR(nm::studentTQuantile(row.dof), row.t95, 6e-4) << "dof " << row.dof;
        EXPECT_NEAR(nm::studentTQuantile(row.dof, 0.99), row.t99, 6e-4) << "dof " << row.dof;
    }
    // Large dof tends to the normal quantile 1.959964.
    EXPECT_NEAR(nm::studentTQuantile(100000), 1.959964, 1e-4);
    EXPECT_THROW(nm::studentTQuantile(0), nm::Error);
    EXPECT_THROW(nm::studentTQuantile(3, 1.0), nm::Error);
}

TEST(Stats, MeanCiOfSeeds)
{
    const std::vector<double> v = {1.0, 2.0, 3.0, NAN};
    const nm::MeanCi ci = nm::meanCi(v);
    EXPECT_EQ(ci.n, 3);
    EXPECT_DOUBLE_EQ(ci.mean, 2.0);
    EXPECT_DOUBLE_EQ(ci.stddev, 1.0);
    EXPECT_NEAR(ci.halfWidth, 4.302653 / std::sqrt(3.0), 1e-6);
    EXPECT_NEAR(ci.lo(), 2.0 - 2.484138, 1e-6);

    const std::vector<double> one = {5.0};
    const nm::MeanCi single = nm::meanCi(one);
    EXPECT_EQ(single.n, 1);
    EXPECT_DOUBLE_EQ(single.mean, 5.0);
    EXPECT_TRUE(std::isnan(single.halfWidth));
    EXPECT_TRUE(std::isnan(nm::meanCi(std::vector<double>{}).mean));
}

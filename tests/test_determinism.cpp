#include "nmcore/config.h"
#include "nmcore/trainer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace {

struct LossRecorder : nm::TrainingObserver {
    std::vector<float> losses;
    std::vector<float> evals;
    void onStep(const nm::StepMetrics &m) override { losses.push_back(m.loss); }
    void onEval(const nm::EvalMetrics &e) override { evals.push_back(e.loss); }
};

LossRecorder train(const std::map<std::string, std::string> &flags)
{
    const auto config = nm::parseConfig("", "", flags);
    nm::Trainer t(config, nm::loadDataset(nm::dataOptions(config)));
    LossRecorder r;
    t.addObserver(&r);
    t.run();
    return r;
}

bool bitIdentical(const std::vector<float> &a, const std::vector<float> &b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

TEST(Determinism, MlpSameSeedAndThreadsGiveBitIdenticalLosses)
{
    for (const char *threads : {"1", "2"}) {
        const std::map<std::string, std::string> flags = {
            {"data", "synthetic"}, {"steps", "60"}, {"eval_every", "20"}, {"threads", threads}};
        const auto a = train(flags), b = train(flags);
        ASSERT_EQ(a.losses.size(), 60u);
        EXPECT_TRUE(bitIdentical(a.losses, b.losses)) << "threads=" << threads;
        EXPECT_TRUE(bitIdentical(a.evals, b.evals)) << "threads=" << threads;
    }
}

TEST(Determinism, GptSameSeedAndThreadsGiveBitIdenticalLosses)
{
    const std::map<std::string, std::string> flags = {{"model", "gpt"},    {"data", "synthetic"}, {"steps", "12"},
                                                      {"gpt_width", "32"}, {"context", "16"},     {"batch", "8"},
                                                      {"threads", "2"},    {"eval_every", "6"}};
    const auto a = train(flags), b = train(flags);
    ASSERT_EQ(a.losses.size(), 12u);
    EXPECT_TRUE(bitIdentical(a.losses, b.losses));
    EXPECT_TRUE(bitIdentical(a.evals, b.evals));
}

TEST(Determinism, VitSameSeedAndThreadsGiveBitIdenticalLosses)
{
    for (const char *threads : {"1", "2"}) {
        const std::map<std::string, std::string> flags = {
            {"model", "vit"},    {"data", "synthetic"},   {"steps", "12"},      {"vit_patch", "2"},
            {"vit_width", "32"}, {"batch", "16"},         {"threads", threads}, {"eval_every", "6"},
            {"recipe", "srste"}, {"sparse_layers", "all"}};
        const auto a = train(flags), b = train(flags);
        ASSERT_EQ(a.losses.size(), 12u);
        EXPECT_TRUE(bitIdentical(a.losses, b.losses)) << "threads=" << threads;
        EXPECT_TRUE(bitIdentical(a.evals, b.evals)) << "threads=" << threads;
    }
}

TEST(Determinism, DifferentSeedsGiveDifferentRuns)
{
    const auto a = train({{"data", "synthetic"}, {"steps", "5"}, {"seed", "1"}});
    const auto b = train({{"data", "synthetic"}, {"steps", "5"}, {"seed", "2"}});
    EXPECT_FALSE(bitIdentical(a.losses, b.losses));
}

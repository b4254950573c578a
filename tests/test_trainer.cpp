#include "nmcore/config.h"
#include "nmcore/trainer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

namespace {

nm::RunConfig smallConfig(std::map<std::string, std::string> extra = {})
{
    std::map<std::string, std::string> flags = {
        {"data", "synthetic"}, {"steps", "40"}, {"eval_every", "10"}, {"mlp_hidden", "32"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    return nm::parseConfig("", "", flags);
}

struct Recorder : nm::TrainingObserver {
    int starts = 0, ends = 0;
    std::vector<nm::StepMetrics> steps;
    std::vector<nm::EvalMetrics> evals;
    nm::RunSummary summary;
    nm::Trainer *stopAt = nullptr;
    long stopStep = -1;
    void onStart(const nm::RunInfo &) override { ++starts; }
    void onStep(const nm::StepMetrics &m) override
    {
        steps.push_back(m);
        if (stopAt && m.step == stopStep)
            stopAt->requestStop();
    }
    void onEval(const nm::EvalMetrics &e) override { evals.push_back(e); }
    void onEnd(const nm::RunSummary &s) override
    {
        ++ends;
        summary = s;
    }
};

} // namespace

TEST(Trainer, ObserversSeeEveryStepEvaluationsAndTheEnd)
{
    const auto cfg = smallConfig();
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    Recorder r;
    t.addObserver(&r);
    const auto s = t.run();
    EXPECT_EQ(r.starts, 1);
    EXPECT_EQ(r.ends, 1);
    ASSERT_EQ(r.steps.size(), 40u);
    for (size_t i = 0; i < r.steps.size(); ++i)
        EXPECT_EQ(r.steps[i].step, long(i + 1));
    // Validation at 10, 20, 30, the final one at 40, then the test split.
    ASSERT_EQ(r.evals.size(), 5u);
    EXPECT_EQ(r.evals[0].step, 10);
    EXPECT_EQ(r.evals[3].step, 40);
    EXPECT_EQ(r.evals[4].split, nm::Split::Test);
    EXPECT_EQ(s.status, nm::RunStatus::Completed);
    EXPECT_EQ(s.step, 40);
    EXPECT_FLOAT_EQ(s.valLoss, r.evals[3].loss);
    EXPECT_GT(s.testAccuracy, 0.5f); // the synthetic task is learnable in 40 steps
    EXPECT_LT(r.steps.back().loss, r.steps.front().loss);
}

TEST(Trainer, StopRequestEndsWithStatusStopped)
{
    const auto cfg = smallConfig();
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    Recorder r;
    r.stopAt = &t;
    r.stopStep = 7;
    t.addObserver(&r);
    const auto s = t.run();
    EXPECT_EQ(s.status, nm::RunStatus::Stopped);
    EXPECT_EQ(s.step, 7);
    EXPECT_FALSE(std::isnan(s.valLoss)); // a stopped run is still evaluated
}

TEST(Trainer, NanLossEndsWithStatusDiverged)
{
    const auto cfg = smallConfig({{"lr", "90"}, {"momentum", "0.99"}, {"weight_decay", "0"}, {"steps", "200"}});
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    Recorder r;
    t.addObserver(&r);
    const auto s = t.run();
    EXPECT_EQ(s.status, nm::RunStatus::Diverged);
    EXPECT_LT(s.step, 200);
    EXPECT_TRUE(std::isnan(s.valLoss));
    EXPECT_EQ(r.ends, 1);
}

TEST(Trainer, PauseHoldsTheLoopUntilResumed)
{
    const auto cfg = smallConfig({{"steps", "100000"}});
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    t.setPaused(true);
    std::thread worker([&] { t.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(t.step(), 0);
    t.setPaused(false);
    while (t.step() < 5)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    t.requestStop();
    worker.join();
    EXPECT_EQ(t.status(), nm::RunStatus::Stopped);
}

TEST(Trainer, SingleSteppingMatchesRun)
{
    const auto cfg = smallConfig({{"steps", "6"}, {"eval_every", "0"}});
    const auto data = nm::loadDataset(nm::dataOptions(cfg));
    nm::Trainer a(cfg, data), b(cfg, data);
    Recorder ra, rb;
    a.addObserver(&ra);
    b.addObserver(&rb);
    a.run();
    while (b.stepOnce()) {
    }
    ASSERT_EQ(ra.steps.size(), rb.steps.size());
    for (size_t i = 0; i < ra.steps.size(); ++i)
        EXPECT_EQ(ra.steps[i].loss, rb.steps[i].loss);
    EXPECT_EQ(b.status(), nm::RunStatus::Completed);
}

TEST(Trainer, LanguageEvaluationReportsBitsPerCharacter)
{
    const auto cfg = nm::parseConfig("", "",
                                     {{"model", "gpt"},
                                      {"data", "synthetic"},
                                      {"steps", "3"},
                                      {"gpt_width", "16"},
                                      {"context", "8"},
                                      {"batch", "4"}});
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    t.run();
    const auto e = t.evaluate(nm::Split::Validation);
    EXPECT_NEAR(e.bitsPerChar, e.loss / std::log(2.0f), 1e-5);
    EXPECT_GE(e.accuracy, 0.0f);
    EXPECT_LE(e.accuracy, 1.0f);
}

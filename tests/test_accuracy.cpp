// End-to-end accuracy on real data: the defaults must train useful models.
#include "nmcore/config.h"
#include "nmcore/trainer.h"

#include <gtest/gtest.h>

#include <cmath>

TEST(Accuracy, DefaultMlpReaches85PercentOnFashionMnist)
{
    const auto cfg = nm::parseConfig("", "", {{"eval_every", "0"}});
    ASSERT_EQ(cfg.mlpHidden, (std::vector<int>{256, 256}));
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    const auto s = t.run();
    ASSERT_EQ(s.status, nm::RunStatus::Completed);
    std::printf("MLP 784-256-256-10, %ld steps: test accuracy %.4f, val accuracy %.4f\n", s.step,
                static_cast<double>(s.testAccuracy), static_cast<double>(s.valAccuracy));
    EXPECT_GE(s.testAccuracy, 0.85f);
}

TEST(Accuracy, DefaultVitReaches84PercentOnFashionMnist)
{
    // The ViT's defaults (7×7 patches: 16 tokens and a class token, 2 blocks of width 64,
    // AdamW), 2000 of its 3000 default steps, SR-STE 2:4 on the feed-forward layers.
    const auto cfg =
        nm::parseConfig("", "", {{"model", "vit"}, {"steps", "2000"}, {"eval_every", "0"}, {"recipe", "srste"}});
    nm::Trainer t(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    const auto s = t.run();
    ASSERT_EQ(s.status, nm::RunStatus::Completed);
    std::printf("%s, SR-STE 2:4, %ld steps: test accuracy %.4f, val accuracy %.4f\n", t.info().modelDescription.c_str(),
                s.step, static_cast<double>(s.testAccuracy), static_cast<double>(s.valAccuracy));
    EXPECT_GE(s.testAccuracy, 0.84f);
}

TEST(Accuracy, TinyGptBeatsUnigramEntropyOnFortunes)
{
    const auto cfg = nm::parseConfig("", "", {{"model", "gpt"}, {"steps", "600"}, {"eval_every", "0"}});
    const auto data = nm::loadDataset(nm::dataOptions(cfg));
    nm::Trainer t(cfg, data);
    const auto s = t.run();
    ASSERT_EQ(s.status, nm::RunStatus::Completed);
    const double bits = static_cast<double>(s.valLoss) / std::log(2.0);
    std::printf("tiny GPT, %ld steps: %.3f bits/char vs unigram entropy %.3f bits/char\n", s.step, bits,
                data->unigramEntropyBits);
    // "Clearly below": at least 0.75 bits/char better than a model that ignores context.
    EXPECT_LT(bits, data->unigramEntropyBits - 0.75);
}

namespace {
// Mean global flip rate (all sparse layers) over steps [from, to].
struct FlipWindow : nm::TrainingObserver {
    long from, to, weights = 0, flips = 0, steps = 0;
    FlipWindow(long a, long b) : from(a), to(b) {}
    void onStart(const nm::RunInfo &info) override
    {
        for (const auto &l : info.layers)
            if (l.sparse)
                weights += static_cast<long>(l.in) * l.out;
    }
    void onStep(const nm::StepMetrics &m) override
    {
        if (m.step < from || m.step > to)
            return;
        for (const auto &l : m.layers)
            flips += l.flips;
        ++steps;
    }
    double rate() const { return double(flips) / double(steps) / double(weights); }
};

double flipRate(const std::string &recipe, long steps, long from, long to,
                std::map<std::string, std::string> extra = {})
{
    std::map<std::string, std::string> flags = {
        {"recipe", recipe}, {"steps", std::to_string(steps)}, {"eval_every", "0"}, {"continuity_every", "0"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    const auto cfg = nm::parseConfig("", "", flags);
    static const auto data = nm::loadDataset(nm::dataOptions(cfg));
    nm::Trainer t(cfg, data);
    FlipWindow w(from, to);
    t.addObserver(&w);
    t.run();
    return w.rate();
}
} // namespace

// Mechanisms (algorithms.md §5.2): SR-STE's decay widens the kept/pruned margin, so its masks
// flip less than STE's by the end of a short run; a dense model's virtual mask settles.
TEST(Mechanisms, SrSteFlipsLessThanSteAtTheEnd)
{
    const double ste = flipRate("ste", 400, 301, 400, {{"min_lr_ratio", "1"}});
    const double srste = flipRate("srste", 400, 301, 400, {{"min_lr_ratio", "1"}, {"lambda", "2e-3"}});
    std::printf("flip rate over steps 301-400: STE %.3e, SR-STE (λ 2e-3) %.3e\n", ste, srste);
    EXPECT_LT(srste, 0.8 * ste);
}

TEST(Mechanisms, DenseVirtualFlipRateDecays)
{
    const double early = flipRate("dense", 400, 2, 50, {{"min_lr_ratio", "1"}});
    const double late = flipRate("dense", 400, 351, 400, {{"min_lr_ratio", "1"}});
    std::printf("dense virtual flip rate: steps 2-50 %.3e, steps 351-400 %.3e\n", early, late);
    EXPECT_LT(late, 0.7 * early);
}

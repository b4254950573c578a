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
    std::printf("MLP 784-256-256-10, %ld steps: test accuracy %.4f, val accuracy %.4f\n", s.step, s.testAccuracy,
                s.valAccuracy);
    EXPECT_GE(s.testAccuracy, 0.85f);
}

TEST(Accuracy, TinyGptBeatsUnigramEntropyOnFortunes)
{
    const auto cfg = nm::parseConfig("", "", {{"model", "gpt"}, {"steps", "600"}, {"eval_every", "0"}});
    const auto data = nm::loadDataset(nm::dataOptions(cfg));
    nm::Trainer t(cfg, data);
    const auto s = t.run();
    ASSERT_EQ(s.status, nm::RunStatus::Completed);
    const double bits = s.valLoss / std::log(2.0);
    std::printf("tiny GPT, %ld steps: %.3f bits/char vs unigram entropy %.3f bits/char\n", s.step, bits,
                data->unigramEntropyBits);
    // "Clearly below": at least 0.75 bits/char better than a model that ignores context.
    EXPECT_LT(bits, data->unigramEntropyBits - 0.75);
}

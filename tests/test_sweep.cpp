// Sweeps: the grid of --sweep values × recipes × seeds, as nmtrain runs and records it.
#include "test_runfile_util.h"

#include "nmcore/error.h"
#include "nmcore/experiment.h"
#include "nmcore/runfile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(Sweep, ParsesKeysValuesAndSeparators)
{
    const nm::SweepAxis a = nm::parseSweep("weight-decay=0, 5e-4 ,1e-3");
    EXPECT_EQ(a.key, "weight_decay");
    EXPECT_EQ(a.values, (std::vector<std::string>{"0", "5e-4", "1e-3"}));
    const nm::SweepAxis b = nm::parseSweep("mlp_hidden=128,128|256,256");
    EXPECT_EQ(b.values, (std::vector<std::string>{"128,128", "256,256"}));
    EXPECT_EQ(nm::parseSweep("nm=2:4,1:8").values, (std::vector<std::string>{"2:4", "1:8"}));
}

TEST(Sweep, BadSweepsNameTheProblem)
{
    auto message = [](const std::string &text) {
        try {
            nm::parseSweep(text);
        } catch (const nm::ConfigError &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("lamda=1,2").find("unknown option 'lamda' in --sweep; did you mean 'lambda'?"), std::string::npos)
        << message("lamda=1,2");
    EXPECT_NE(message("lambda").find("expected KEY=V1,V2,..."), std::string::npos);
    EXPECT_NE(message("lambda=").find("sweep lambda: no values"), std::string::npos);
    EXPECT_NE(message("lambda=1e-4,1e-4").find("'1e-4' is listed twice"), std::string::npos);
    EXPECT_NE(message("recipe=ste,srste").find("list recipes with --recipes"), std::string::npos);
    EXPECT_NE(message("seed=1,2").find("list seeds with --seeds"), std::string::npos);
    EXPECT_THROW(nm::sweepGrid({nm::parseSweep("lr=0.1,0.2"), nm::parseSweep("lr=0.3")}), nm::ConfigError);
}

TEST(Sweep, GridIsTheProductFirstAxisOutermost)
{
    const auto grid = nm::sweepGrid({nm::parseSweep("lr=0.1,0.2"), nm::parseSweep("nm=2:4,1:8,1:16")});
    ASSERT_EQ(grid.size(), 6u);
    EXPECT_EQ(grid[0], (Pairs{{"lr", "0.1"}, {"nm", "2:4"}}));
    EXPECT_EQ(grid[2], (Pairs{{"lr", "0.1"}, {"nm", "1:16"}}));
    EXPECT_EQ(grid[3], (Pairs{{"lr", "0.2"}, {"nm", "2:4"}}));
    EXPECT_EQ(nm::sweepGrid({}).size(), 1u); // no sweep: one point without values
}

TEST(Sweep, KeysAreEveryOptionButRecipeSeedAndName)
{
    const auto keys = nm::sweepKeys();
    for (const char *k : {"lr", "lambda", "nm", "model", "mlp_hidden", "steps"})
        EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
    for (const char *k : {"recipe", "seed", "name"})
        EXPECT_EQ(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
    EXPECT_EQ(keys.size() + 3, nm::configOptions().size());
}

TEST(Sweep, ExpandsPointsThenGroupsThenRecipesThenSeeds)
{
    const std::vector<nm::SweepAxis> axes = {nm::parseSweep("lr=0.1,0.2"), nm::parseSweep("nm=2:4,1:8")};
    const std::map<std::string, std::string> flags = {{"data", "synthetic"}, {"lambda", "3e-4"}};
    const auto runs = nm::expandSweep("", "config", {{flags, {"ste", "srste"}}}, axes, {1, 2});
    ASSERT_EQ(runs.size(), 16u);
    EXPECT_EQ(runs[0].name, "ste_lr=0.1_nm=2:4_s1");
    EXPECT_EQ(runs[1].name, "ste_lr=0.1_nm=2:4_s2");
    EXPECT_EQ(runs[2].name, "srste_lr=0.1_nm=2:4_s1");
    EXPECT_EQ(runs[4].name, "ste_lr=0.1_nm=1:8_s1");
    EXPECT_EQ(runs[15].name, "srste_lr=0.2_nm=1:8_s2");
    EXPECT_EQ(runs[15].sweep, (Pairs{{"lr", "0.2"}, {"nm", "1:8"}}));
    EXPECT_DOUBLE_EQ(runs[15].lr, 0.2);
    EXPECT_EQ(runs[15].nm, "1:8");
    EXPECT_DOUBLE_EQ(runs[15].lambda, 3e-4);
    EXPECT_EQ(runs[15].seed, 2u);
    // One group per recipe with its own flags (the GUI's form): the points stay outermost.
    const auto grouped = nm::expandSweep("", "the form",
                                         {{{{"recipe", "srste"}, {"lambda", "1e-4"}}, {"srste"}},
                                          {{{"recipe", "srste"}, {"lambda", "5e-4"}}, {"srste"}}},
                                         {nm::parseSweep("lr=0.1,0.2")}, {1});
    ASSERT_EQ(grouped.size(), 4u);
    EXPECT_DOUBLE_EQ(grouped[1].lambda, 5e-4);
    EXPECT_DOUBLE_EQ(grouped[1].lr, 0.1);
    EXPECT_DOUBLE_EQ(grouped[2].lr, 0.2);
    // No axes: one point without values, names as expandRuns gives them.
    const auto plain = nm::expandSweep("", "config", {{{}, {"ste"}}}, {}, {3});
    ASSERT_EQ(plain.size(), 1u);
    EXPECT_EQ(plain[0].name, "ste_s3");
    EXPECT_TRUE(plain[0].sweep.empty());
}

TEST(Sweep, ExpansionNamesTheBadPoint)
{
    try {
        nm::expandSweep("", "config", {{{}, {"ste"}}}, {nm::parseSweep("batch=64,0")}, {1});
        FAIL() << "no error";
    } catch (const nm::ConfigError &e) {
        EXPECT_NE(std::string(e.what()).find("--sweep (at batch=0): batch: 0 is out of range"), std::string::npos)
            << e.what();
    }
}

TEST(Sweep, SummaryGroupsBySweptValues)
{
    std::vector<nm::RunConfig> configs(4);
    std::vector<nm::RunSummary> summaries(4);
    for (int i = 0; i < 4; ++i) {
        configs[static_cast<size_t>(i)].recipe = "srste";
        configs[static_cast<size_t>(i)].sweep = {{"lambda", i < 2 ? "1e-4" : "2e-4"}};
        summaries[static_cast<size_t>(i)].valAccuracy = static_cast<float>(0.5 + 0.1 * i);
    }
    const auto groups = nm::summarizeByRecipe(configs, summaries);
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(groups[1].sweep, (Pairs{{"lambda", "2e-4"}}));
    EXPECT_EQ(groups[1].runs, 2);
    EXPECT_NEAR(groups[1].valAccuracy.mean, 0.75, 1e-6);
    const std::string table = nm::formatSummaryTable(groups);
    EXPECT_NE(table.find("sweep"), std::string::npos) << table;
    EXPECT_NE(table.find("lambda=2e-4"), std::string::npos) << table;
}

#ifdef NMTRAIN_PATH
TEST(Sweep, NmtrainRunsTheGridAndRecordsTheSweptValues)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("sweep.h5");
    const nmtest::Result r = nmtest::runNmtrain(dir, {"--data",         "synthetic",
                                                      "--steps",        "4",
                                                      "--eval-every",   "2",
                                                      "--eval-batches", "1",
                                                      "--mlp-hidden",   "32,32",
                                                      "--gpt-layers",   "1",
                                                      "--gpt-width",    "32",
                                                      "--context",      "16",
                                                      "--batch",        "8",
                                                      "--recipes",      "ste,srste",
                                                      "--seeds",        "1,2",
                                                      "--sweep",        "lambda=1e-4,3e-4",
                                                      "--sweep",        "model=mlp,gpt",
                                                      "--threads",      "1",
                                                      "--out",          path});
    ASSERT_EQ(r.status, 0) << r.err;
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 16); // 2 λ × 2 models × 2 recipes × 2 seeds
    EXPECT_EQ(reader.run(0).name, "ste_lambda=1e-4_model=mlp_s1");
    EXPECT_EQ(reader.run(15).name, "srste_lambda=3e-4_model=gpt_s2");
    for (int i = 0; i < reader.runCount(); ++i) {
        const nm::RunHeader &h = reader.run(i);
        ASSERT_EQ(h.config.sweep.size(), 2u) << h.name;
        EXPECT_EQ(h.config.sweep[0].first, "lambda");
        EXPECT_EQ(h.config.sweep[1].first, "model");
        // The swept values are the runs' own settings, with the swept model's defaults.
        EXPECT_DOUBLE_EQ(h.config.lambda, i < 8 ? 1e-4 : 3e-4) << h.name;
        EXPECT_EQ(h.config.model, (i / 4) % 2 == 0 ? nm::ModelKind::Mlp : nm::ModelKind::Gpt) << h.name;
        EXPECT_EQ(h.config.optimizer,
                  h.config.model == nm::ModelKind::Gpt ? nm::OptimizerKind::AdamW : nm::OptimizerKind::Sgd)
            << h.name;
        EXPECT_EQ(h.status, "Completed") << h.name;
    }
    // A plain run has no sweep attribute.
    const std::string plain = dir.file("plain.h5");
    ASSERT_EQ(nmtest::runNmtrain(dir, {"--data", "synthetic", "--steps", "2", "--threads", "1", "--out", plain}).status,
              0);
    EXPECT_TRUE(nm::RunFileReader(plain).run(0).config.sweep.empty());
}

TEST(Sweep, NmtrainRefusesConflictsAndBadValues)
{
    nmtest::TempDir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--lambda", "1e-4", "--sweep", "lambda=1e-4,2e-4"}, "give lambda either as --lambda or in --sweep"},
        {{"--sweep", "lambda=1e-4,abc"}, "--sweep (at lambda=abc): "},
        {{"--sweep", "batch=64,0"}, "--sweep (at batch=0): batch: 0 is out of range"},
        {{"--sweep", "nm=2:4", "--sweep", "nm=1:8"}, "nm is swept twice"},
        {{"--resume", dir.file("x.h5"), "--run", "x", "--sweep", "lr=0.1"}, "--sweep do not apply"},
    };
    for (const auto &[args, expect] : cases) {
        std::vector<std::string> a = {"--data", "synthetic", "--steps", "2", "--threads", "1"};
        a.insert(a.end(), args.begin(), args.end());
        const nmtest::Result r = nmtest::runNmtrain(dir, a);
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find(expect), std::string::npos) << "expected '" << expect << "' in: " << r.err;
    }
}
#endif

} // namespace

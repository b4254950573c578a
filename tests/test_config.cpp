#include "nmcore/config.h"
#include "nmcore/error.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

std::string errorOf(const std::string &json, const std::map<std::string, std::string> &flags = {})
{
    try {
        nm::parseConfig(json, "test.json", flags);
    } catch (const nm::ConfigError &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(Config, ModelDefaultsApplyUnlessSet)
{
    const auto mlp = nm::parseConfig("", "", {});
    EXPECT_EQ(mlp.model, nm::ModelKind::Mlp);
    EXPECT_EQ(mlp.data, nm::DataSource::FashionMnist);
    EXPECT_EQ(mlp.optimizer, nm::OptimizerKind::Sgd);
    const auto gpt = nm::parseConfig("", "", {{"model", "gpt"}});
    EXPECT_EQ(gpt.data, nm::DataSource::Text);
    EXPECT_EQ(gpt.optimizer, nm::OptimizerKind::AdamW);
    EXPECT_DOUBLE_EQ(gpt.weightDecay, 0.1);
    const auto vit = nm::parseConfig("", "", {{"model", "vit"}});
    EXPECT_EQ(vit.data, nm::DataSource::FashionMnist);
    EXPECT_EQ(vit.optimizer, nm::OptimizerKind::AdamW);
    EXPECT_DOUBLE_EQ(vit.weightDecay, 0.05);
    EXPECT_EQ(vit.vitPatch, 7);
    EXPECT_EQ(vit.vitPool, nm::VitPool::Cls);
    const auto gpt2 = nm::parseConfig(R"({"model": "gpt", "lr": 0.01})", "x.json", {{"weight-decay", "0"}});
    EXPECT_DOUBLE_EQ(gpt2.lr, 0.01);
    EXPECT_DOUBLE_EQ(gpt2.weightDecay, 0.0);
}

TEST(Config, FlagsOverrideFileAndAcceptDashes)
{
    const auto c = nm::parseConfig(R"({"steps": 100, "mlp_hidden": [32, 16], "nesterov": false})", "f.json",
                                   {{"steps", "7"}, {"grad-clip", "2.5"}, {"mlp-hidden", "8,4,2"}});
    EXPECT_EQ(c.steps, 7);
    EXPECT_DOUBLE_EQ(c.gradClip, 2.5);
    EXPECT_EQ(c.mlpHidden, (std::vector<int>{8, 4, 2}));
    EXPECT_FALSE(c.nesterov);
}

TEST(Config, UnknownKeyIsNamedWithSuggestion)
{
    const auto e = errorOf(R"({"stesp": 10})");
    EXPECT_NE(e.find("unknown option 'stesp' in test.json"), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean 'steps'"), std::string::npos) << e;
}

TEST(Config, WrongTypesNameFieldAndExpectation)
{
    EXPECT_NE(errorOf(R"({"steps": "many"})").find("steps: expected an integer"), std::string::npos);
    EXPECT_NE(errorOf(R"({"steps": 1.5})").find("steps: expected an integer"), std::string::npos);
    EXPECT_NE(errorOf(R"({"lr": true})").find("lr: expected a number"), std::string::npos);
    EXPECT_NE(errorOf(R"({"nesterov": 1})").find("nesterov: expected true or false"), std::string::npos);
    EXPECT_NE(errorOf(R"({"mlp_hidden": 5})").find("mlp_hidden: expected a non-empty list"), std::string::npos);
    EXPECT_NE(errorOf("", {{"lr", "fast"}}).find("lr: expected a number, got 'fast'"), std::string::npos);
}

TEST(Config, OutOfRangeAndChoicesListAllowedValues)
{
    EXPECT_NE(errorOf(R"({"batch": 0})").find("batch: 0 is out of range; allowed [1, 65536]"), std::string::npos);
    EXPECT_NE(errorOf(R"({"lr": -1})").find("lr: -1 is out of range"), std::string::npos);
    EXPECT_NE(errorOf(R"({"model": "cnn"})").find("model: unknown value 'cnn'; allowed: mlp, gpt, vit"),
              std::string::npos);
    EXPECT_NE(errorOf(R"({"mlp_hidden": [64, 0]})").find("mlp_hidden"), std::string::npos);
}

TEST(Config, CrossFieldRules)
{
    EXPECT_NE(errorOf(R"({"model": "gpt", "gpt_width": 130, "gpt_heads": 4})").find("does not divide"),
              std::string::npos);
    EXPECT_NE(errorOf(R"({"data": "text"})").find("needs model gpt"), std::string::npos);
    EXPECT_NE(errorOf(R"({"model": "gpt", "data": "fashion-mnist"})").find("needs model mlp or vit"),
              std::string::npos);
    EXPECT_NE(errorOf(R"({"model": "vit", "data": "text"})").find("the ViT trains on fashion-mnist"),
              std::string::npos);
    EXPECT_NE(errorOf(R"({"model": "vit", "vit_width": 30, "vit_heads": 4})").find("vit_heads: 4 does not divide"),
              std::string::npos);
    EXPECT_NE(errorOf(R"({"steps": 10, "warmup": 20})").find("warmup"), std::string::npos);
}

TEST(Config, ShortRunsShrinkTheDefaultWarmup)
{
    // A default warm-up longer than the run is shortened; an explicit one is an error (above).
    const auto c = nm::parseConfig("", "", {{"model", "gpt"}, {"steps", "20"}});
    EXPECT_LE(c.warmup, 20);
}

TEST(Config, MalformedJsonIsReported)
{
    EXPECT_NE(errorOf("{steps: 3}").find("test.json is not valid JSON"), std::string::npos);
    EXPECT_NE(errorOf("[1, 2]").find("must hold a JSON object"), std::string::npos);
}

TEST(Config, JsonRoundTrip)
{
    const auto c = nm::parseConfig("", "", {{"model", "gpt"}, {"seed", "42"}, {"name", "x"}});
    const auto back = nm::parseConfig(nm::configToJson(c), "roundtrip", {});
    EXPECT_EQ(nm::configToJson(back), nm::configToJson(c));
    EXPECT_EQ(back.seed, 42u);
}

// Every choice is written by name, and every name of every choice parses back to the value it
// names (the enums of config.h and the option table agree).
TEST(Config, ChoicesAreWrittenAndReadByName)
{
    const std::string base = nm::configToJson(nm::defaultConfig());
    for (const auto &o : nm::configOptions()) {
        if (o.type != nm::OptionType::Choice)
            continue;
        ASSERT_GE(o.choices.size(), 2u) << o.key;
        for (const auto &value : o.choices) {
            if (o.key == "data" && value == "text")
                continue; // the MLP does not train on text (a cross-field rule)
            const auto c = nm::parseConfig("", "", {{o.key, value}});
            const auto j = nlohmann::json::parse(nm::configToJson(c));
            ASSERT_TRUE(j.at(o.key).is_string()) << o.key << " is written as " << j.at(o.key).dump();
            EXPECT_EQ(j.at(o.key).get<std::string>(), value) << o.key;
        }
    }
    EXPECT_EQ(nm::choiceName(nm::SparseGemmMode::Off), "off");
    EXPECT_EQ(nm::parseChoice<nm::DataSource>("synthetic"), nm::DataSource::Synthetic);
    EXPECT_FALSE(nm::parseChoice<nm::ModelKind>("resnet").has_value());
    EXPECT_NE(base.find("\"model\":\"mlp\""), std::string::npos) << base;
}

TEST(Config, EveryOptionIsDocumented)
{
    for (const auto &o : nm::configOptions()) {
        EXPECT_FALSE(o.help.empty()) << o.key;
        EXPECT_EQ(nm::canonicalKey(o.key), o.key);
    }
}

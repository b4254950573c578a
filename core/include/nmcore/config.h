#pragma once
// Run configuration. One table of options (config.cpp) drives everything: JSON config files,
// command-line flags (`--key value`, dashes or underscores), `--help`, validation and the
// JSON copy stored with every run. Options marked model-dependent take their default from
// the model (MLP or GPT) unless set explicitly.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace nm {

// The options that take one of a few values are enums in the engine; their names, as written in
// config files, flags, run files and --help, are ChoiceNames<E>::names in the enum's order.
enum class ModelKind { Mlp, Gpt, Vit };
enum class VitPool { Cls, Mean };
enum class DataSource { FashionMnist, Text, Synthetic };
enum class OptimizerKind { Sgd, AdamW };
enum class SrsteDecay { Coupled, Decoupled };
enum class SsteBeta { Frozen, Dynamic };
enum class MdgfGrad { Identity, Scaled };
enum class SparseGemmMode { Auto, On, Off };

template <class E> struct ChoiceNames;
template <> struct ChoiceNames<ModelKind> {
    static constexpr std::array<std::string_view, 3> names = {"mlp", "gpt", "vit"};
};
template <> struct ChoiceNames<VitPool> {
    static constexpr std::array<std::string_view, 2> names = {"cls", "mean"};
};
template <> struct ChoiceNames<DataSource> {
    static constexpr std::array<std::string_view, 3> names = {"fashion-mnist", "text", "synthetic"};
};
template <> struct ChoiceNames<OptimizerKind> {
    static constexpr std::array<std::string_view, 2> names = {"sgd", "adamw"};
};
template <> struct ChoiceNames<SrsteDecay> {
    static constexpr std::array<std::string_view, 2> names = {"coupled", "decoupled"};
};
template <> struct ChoiceNames<SsteBeta> {
    static constexpr std::array<std::string_view, 2> names = {"frozen", "dynamic"};
};
template <> struct ChoiceNames<MdgfGrad> {
    static constexpr std::array<std::string_view, 2> names = {"identity", "scaled"};
};
template <> struct ChoiceNames<SparseGemmMode> {
    static constexpr std::array<std::string_view, 3> names = {"auto", "on", "off"};
};

template <class E>
concept ChoiceEnum = std::is_enum_v<E> && requires
{
    ChoiceNames<E>::names;
};

// The option value's name ("gpt" for ModelKind::Gpt).
template <ChoiceEnum E> std::string choiceName(E value)
{
    return std::string(ChoiceNames<E>::names.at(static_cast<size_t>(value)));
}
// The value named `name`, or nothing when no value has that name.
template <ChoiceEnum E> std::optional<E> parseChoice(std::string_view name)
{
    for (size_t i = 0; i < ChoiceNames<E>::names.size(); ++i)
        if (ChoiceNames<E>::names[i] == name)
            return static_cast<E>(i);
    return std::nullopt;
}

struct RunConfig {
    std::string name = "run";
    // Model
    ModelKind model = ModelKind::Mlp;
    std::vector<int> mlpHidden = {256, 256};
    int gptLayers = 2, gptHeads = 4, gptWidth = 128, context = 64;
    int vitLayers = 2, vitHeads = 4, vitWidth = 64, vitPatch = 7;
    VitPool vitPool = VitPool::Cls;
    // Data
    DataSource data = DataSource::FashionMnist;
    std::string dataDir = "/usr/share/datasets/fashion-mnist";
    std::string textFile; // empty: Debian's fortunes corpus
    int valCount = 5000;
    // Optimiser and schedule
    OptimizerKind optimizer = OptimizerKind::Sgd;
    double lr = 0.05, minLrRatio = 0.0;
    int warmup = 0;
    double momentum = 0.9;
    bool nesterov = true;
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
    double weightDecay = 5e-4;
    double gradClip = 0.0; // 0: off
    // Loop
    long steps = 3000;
    int batch = 128;
    uint64_t seed = 1;
    int threads = 0; // 0: every core
    int evalEvery = 250;
    int evalBatches = 16; // language models: validation windows = eval_batches × batch
    // Sparsity (sparsity.h, algorithms.md §2)
    std::string recipe = "dense";
    std::string nm = "2:4";
    std::string sparseLayers = "default"; // default | all | none | comma-separated layer names
    bool keepIndivisibleDense = false;
    double lambda = 2e-4; // SR-STE λ
    SrsteDecay srsteDecay = SrsteDecay::Coupled;
    SsteBeta ssteBeta = SsteBeta::Frozen;
    double mdgfFraction = 0.5; // α ≈ 0 at this fraction of the sparse span
    double mdgfKappa = 0.0;    // explicit κ (0: from mdgfFraction)
    MdgfGrad mdgfGrad = MdgfGrad::Identity;
    double pgfDense = 0.0, pgfFinetune = 0.0;
    int tsrsteRefresh = 40;
    double tsrsteDenseTail = 1.0 / 6.0;
    double aspPruneAt = 0.5;
    bool mvue = false, fp8 = false;
    SparseGemmMode sparseGemm = SparseGemmMode::Auto; // compressed N:M GEMMs where W̃ is N:M
    // Diagnostics
    bool diagnostics = true; // false: masks and flips only (no gradient statistics, ΔW̃, continuity)
    int noiseWindow = 40, sadEvery = 100, continuityEvery = 50;
    long snapshotEvery = 500; // 0: only the first and the last step
    bool checkpoints = true; // parameters + optimiser + sparsity state with each snapshot (after step 0) and at the end

    // Not an option: the values an experiment's sweep gave this run (nmtrain --sweep), as
    // (option key, value as written), in sweep order. Recorded as the run attribute `sweep`.
    std::vector<std::pair<std::string, std::string>> sweep;
};

enum class OptionType { Int, Float, Bool, String, IntList, Choice };

struct OptionInfo {
    std::string key;
    OptionType type;
    std::string help;
    std::string defaultText;           // as shown by --help (mentions per-model defaults)
    std::vector<std::string> choices;  // for Choice
    double minValue = 0, maxValue = 0; // for Int/Float/IntList (inclusive)
};

// Every option, in --help order.
const std::vector<OptionInfo> &configOptions();

// Parses a JSON object (the config file) and then flags (key → textual value, flags win),
// applies per-model defaults, validates. Throws ConfigError with one message naming the
// field and the allowed values. `origin` names the JSON source in messages.
RunConfig parseConfig(const std::string &jsonText, const std::string &origin,
                      const std::map<std::string, std::string> &flags);

// Defaults for a model, as parseConfig would produce with only `model` set.
RunConfig defaultConfig(ModelKind model = ModelKind::Mlp);
// The same for a model named as in config files ("gpt"); an unknown name throws ConfigError.
RunConfig defaultConfig(const std::string &model);

// Checks ranges and cross-field rules; throws ConfigError.
void validateConfig(const RunConfig &config);

// The full config as a JSON object (every key), stored with runs.
std::string configToJson(const RunConfig &config, int indent = -1);

// Canonical option key for a flag spelling ("weight-decay" → "weight_decay"); empty if unknown.
std::string canonicalKey(const std::string &spelling);
// The same, but an unknown spelling throws ConfigError with the closest option ("did you
// mean"); `where` is appended to the message's subject (e.g. " in --sweep").
std::string requireKey(const std::string &spelling, const std::string &where);
// The items of a comma-separated list ("ste, srste"), spaces removed, empty items dropped.
std::vector<std::string> splitList(const std::string &text);

} // namespace nm

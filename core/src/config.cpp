#include "nmcore/config.h"

#include "nmcore/error.h"
#include "nmcore/sparsity.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <variant>

namespace nm {

using json = nlohmann::json;

namespace {

using Member =
    std::variant<int RunConfig::*, long RunConfig::*, uint64_t RunConfig::*, double RunConfig::*, bool RunConfig::*,
                 std::string RunConfig::*, std::vector<int> RunConfig::*, ModelKind RunConfig::*, VitPool RunConfig::*,
                 DataSource RunConfig::*, OptimizerKind RunConfig::*, SrsteDecay RunConfig::*, SsteBeta RunConfig::*,
                 MdgfGrad RunConfig::*, SparseGemmMode RunConfig::*>;

template <ChoiceEnum E> std::vector<std::string> choiceNames()
{
    return {ChoiceNames<E>::names.begin(), ChoiceNames<E>::names.end()};
}

struct Option {
    OptionInfo info;
    Member member;
};

constexpr double kBig = 1e9;

// The option table, one add() or choice() per option in --help order. Longer than 80 lines on
// purpose: it is a table, and one place to read every option, its help, default and range.
std::vector<Option> buildOptions()
{
    using T = OptionType;
    std::vector<Option> o;
    auto add = [&](std::string key, T type, Member m, std::string help, std::string def, double lo = 0, double hi = 0,
                   std::vector<std::string> choices = {}) {
        o.push_back({OptionInfo{std::move(key), type, std::move(help), std::move(def), std::move(choices), lo, hi}, m});
    };
    // A choice whose values are an enum's names (config.h): the allowed values come from there.
    auto choice = [&]<ChoiceEnum E>(const std::string &key, E RunConfig::*m, const std::string &help,
                                    const std::string &def) {
        add(key, T::Choice, m, help, def, 0, 0, choiceNames<E>());
    };
    add("name", T::String, &RunConfig::name, "run name, used in summaries and run files", "run");
    choice("model", &RunConfig::model,
           "model to train: mlp (Fashion-MNIST), gpt (characters of text), vit (vision transformer on Fashion-MNIST)",
           "mlp");
    add("mlp_hidden", T::IntList, &RunConfig::mlpHidden, "MLP hidden widths, comma separated", "256,256", 1, 65536);
    add("gpt_layers", T::Int, &RunConfig::gptLayers, "GPT transformer blocks", "2", 1, 64);
    add("gpt_heads", T::Int, &RunConfig::gptHeads, "GPT attention heads (must divide gpt_width)", "4", 1, 64);
    add("gpt_width", T::Int, &RunConfig::gptWidth, "GPT embedding width", "128", 8, 4096);
    add("context", T::Int, &RunConfig::context, "GPT context length in characters", "64", 2, 4096);
    add("vit_layers", T::Int, &RunConfig::vitLayers, "ViT transformer blocks", "2", 1, 64);
    add("vit_heads", T::Int, &RunConfig::vitHeads, "ViT attention heads (must divide vit_width)", "4", 1, 64);
    add("vit_width", T::Int, &RunConfig::vitWidth, "ViT embedding width", "64", 8, 4096);
    add("vit_patch", T::Int, &RunConfig::vitPatch,
        "ViT patch side in pixels (must divide the image side; 28×28: 7 gives 16 tokens, 4 gives 49)", "7", 1, 64);
    choice("vit_pool", &RunConfig::vitPool,
           "ViT pooling: cls (a learned class token) or mean (the mean of the patch tokens)", "cls");
    choice("data", &RunConfig::data, "dataset", "mlp, vit: fashion-mnist, gpt: text");
    add("data_dir", T::String, &RunConfig::dataDir,
        "directory with the four IDX files (train/t10k images and labels, optionally .gz); MNIST works too",
        "/usr/share/datasets/fashion-mnist");
    add("text_file", T::String, &RunConfig::textFile, "text corpus for data=text (empty: Debian's fortunes corpus)",
        "");
    add("val_count", T::Int, &RunConfig::valCount, "validation images held out from the end of the training file",
        "5000", 0, 59999);
    choice("optimizer", &RunConfig::optimizer, "optimiser", "mlp: sgd, gpt, vit: adamw");
    add("lr", T::Float, &RunConfig::lr, "peak learning rate", "mlp: 0.05, gpt, vit: 0.001", 0, 100);
    add("min_lr_ratio", T::Float, &RunConfig::minLrRatio,
        "final learning rate of the cosine decay, as a fraction of lr", "mlp: 0, gpt, vit: 0.1", 0, 1);
    add("warmup", T::Int, &RunConfig::warmup, "linear warm-up steps before the cosine decay", "mlp: 0, gpt, vit: 100",
        0, kBig);
    add("momentum", T::Float, &RunConfig::momentum, "SGD momentum", "0.9", 0, 0.9999);
    add("nesterov", T::Bool, &RunConfig::nesterov, "SGD with Nesterov momentum", "true");
    add("beta1", T::Float, &RunConfig::beta1, "AdamW β1", "0.9", 0, 0.9999);
    add("beta2", T::Float, &RunConfig::beta2, "AdamW β2", "0.95", 0, 0.99999);
    add("eps", T::Float, &RunConfig::eps, "AdamW ε", "1e-8", 1e-12, 1);
    add("weight_decay", T::Float, &RunConfig::weightDecay,
        "weight decay on weight matrices (SGD: L2 added to the gradient; AdamW: decoupled)",
        "mlp: 5e-4, gpt: 0.1, vit: 0.05", 0, 10);
    add("grad_clip", T::Float, &RunConfig::gradClip, "clip the global gradient norm to this value (0: off)",
        "mlp: 0, gpt, vit: 1", 0, 1e6);
    add("steps", T::Int, &RunConfig::steps, "optimiser steps", "mlp, vit: 3000, gpt: 2000", 1, 1e8);
    add("batch", T::Int, &RunConfig::batch, "batch size (images, or sequences of `context` characters)",
        "mlp, vit: 128, gpt: 32", 1, 65536);
    add("seed", T::Int, &RunConfig::seed, "seed for initialisation and data order", "1", 0, 9007199254740991.0);
    add("threads", T::Int, &RunConfig::threads, "threads for BLAS and OpenMP (0: every core)", "0", 0, 1024);
    add("eval_every", T::Int, &RunConfig::evalEvery,
        "evaluate on the validation split every k steps (0: only at the end)", "mlp, vit: 250, gpt: 200", 0, 1e8);
    add("eval_batches", T::Int, &RunConfig::evalBatches,
        "language models: validation windows per evaluation, in batches", "16", 1, 100000);
    // Sparsity: recipes and their hyperparameters (algorithms.md §2; defaults are the authors').
    add("recipe", T::Choice, &RunConfig::recipe,
        "sparse-training recipe: dense (virtual flip metrics only), ste, srste, sste, mdgf-linear, mdgf-exp, "
        "sdgf-stepwise, sdgf-geometric, tsrste-df, asp",
        "dense", 0, 0, recipeNames()); // the recipe table (recipes/recipe_table.cpp)
    add("nm", T::String, &RunConfig::nm,
        "target N:M sparsity: keep N of every M consecutive weights along a layer's input (1 <= N < M <= 128)", "2:4");
    add("sparse_layers", T::String, &RunConfig::sparseLayers,
        "which Linear layers are sparse: default (MLP hidden layers; GPT and ViT feed-forward fc1/fc2), all, none, or "
        "comma-separated layer names (e.g. fc2,fc3)",
        "default");
    add("keep_indivisible_dense", T::Bool, &RunConfig::keepIndivisibleDense,
        "keep a selected layer dense when its input size is not a multiple of M (otherwise that is an error)", "false");
    add("lambda", T::Float, &RunConfig::lambda,
        "SR-STE / T-SR-STE decay λ in g = G + λ(1−m)⊙W, added once per optimiser step after clipping "
        "(the official code adds it per backward pass; ICML-24 used 6e-5 or 2e-4 for GPT-2)",
        "2e-4", 0, 10);
    choice("srste_decay", &RunConfig::srsteDecay,
           "coupled: λ(1−m)⊙W is added to the gradient (official code; passes through momentum/Adam); decoupled: "
           "W ← W − lr·λ(1−m)⊙W after the optimiser step",
           "coupled");
    choice("sste_beta", &RunConfig::ssteBeta,
           "S-STE scale β = <W,S>/<S,S>: frozen after initialisation (reference code) or recomputed every step "
           "(the paper's ablation)",
           "frozen");
    add("mdgf_fraction", T::Float, &RunConfig::mdgfFraction,
        "MDGF: α reaches ~0 at this fraction of the sparse span (sets κ; linear: exactly 0, exponential: e^-5)", "0.5",
        1e-6, 1);
    add("mdgf_kappa", T::Float, &RunConfig::mdgfKappa,
        "MDGF: explicit decay coefficient κ per step (0: from mdgf_fraction; the PGF repo used 1e-4 exp, 2e-4 default)",
        "0", 0, 1);
    choice("mdgf_grad", &RunConfig::mdgfGrad,
           "MDGF gradient to pruned weights: identity (official PGF code) or scaled by α (praxis, autodiff of the "
           "forward)",
           "identity");
    add("pgf_dense", T::Float, &RunConfig::pgfDense, "MDGF/SDGF: fraction of training run dense before the sparse span",
        "0", 0, 0.99);
    add("pgf_finetune", T::Float, &RunConfig::pgfFinetune,
        "MDGF/SDGF: fraction of training at the end run as hard-mask STE fine-tuning at the target N:M", "0", 0, 0.99);
    add("tsrste_refresh", T::Int, &RunConfig::tsrsteRefresh, "T-SR-STE: recompute the transposable mask every k steps",
        "40", 1, 1e8);
    add("tsrste_dense_tail", T::Float, &RunConfig::tsrsteDenseTail,
        "T-SR-STE: fraction of training at the end trained dense (dense fine-tuning; the reference: 50k of 300k)",
        "0.1667", 0, 1);
    add("asp_prune_at", T::Float, &RunConfig::aspPruneAt,
        "ASP: fraction of training trained dense before the one-shot prune; the mask is fixed afterwards "
        "(0: prune the initial weights)",
        "0.5", 0, 0.99);
    add("mvue", T::Bool, &RunConfig::mvue,
        "sparse layers: weight gradient from the unbiased MVUE 2:4 of the output gradient (groups of 4 tokens)",
        "false");
    add("fp8", T::Bool, &RunConfig::fp8,
        "sparse layers: simulate FP8 GEMMs (E4M3 forward, E5M2 backward, per-tensor scaling, round-to-nearest-even)",
        "false");
    choice("sparse_gemm", &RunConfig::sparseGemm,
           "compressed N:M GEMMs for the forward and backward-data products of steps whose W̃ is N:M sparse: auto (time "
           "both paths on each layer's shape at the start, keep the faster), on, off (dense GEMMs on W̃)",
           "auto");
    add("diagnostics", T::Bool, &RunConfig::diagnostics,
        "per-layer gradient statistics, ‖ΔW̃‖, sparsity and continuity measures (false: masks and flip counts only)",
        "true");
    add("noise_window", T::Int, &RunConfig::noiseWindow,
        "gradient noise: steps in the rolling window of the coefficient of variation of ‖G‖", "40", 2, 100000);
    add("sad_every", T::Int, &RunConfig::sadEvery,
        "SAD and oscillation index: interval in steps between the compared masks", "100", 1, 1e8);
    add("continuity_every", T::Int, &RunConfig::continuityEvery,
        "S-STE continuity measures (dF1, dF2, predicted and actual descent; two extra forwards) every k steps "
        "(0: off)",
        "50", 0, 1e8);
    add("snapshot_every", T::Int, &RunConfig::snapshotEvery,
        "weight/mask snapshots of the sparse layers every k steps (0: only the first and the last step)", "500", 0,
        1e8);
    add("checkpoints", T::Bool, &RunConfig::checkpoints,
        "save the parameters, optimiser and mask state with every snapshot after step 0 and at the end, so the run "
        "resumes or forks exactly from those steps (nmtrain --resume, the GUI's Fork)",
        "true");
    return o;
}

const std::vector<Option> &options()
{
    static const std::vector<Option> opts = buildOptions();
    return opts;
}

void applyModelDefaults(RunConfig &c)
{
    if (c.model == ModelKind::Gpt) {
        c.data = DataSource::Text;
        c.optimizer = OptimizerKind::AdamW;
        c.lr = 1e-3;
        c.minLrRatio = 0.1;
        c.warmup = 100;
        c.weightDecay = 0.1;
        c.gradClip = 1.0;
        c.steps = 2000;
        c.batch = 32;
        c.evalEvery = 200;
    }
    if (c.model == ModelKind::Vit) { // fashion-mnist, 3000 steps of 128 images, eval every 250: the MLP's
        c.optimizer = OptimizerKind::AdamW;
        c.lr = 1e-3;
        c.minLrRatio = 0.1;
        c.warmup = 100;
        c.weightDecay = 0.05;
        c.gradClip = 1.0;
    }
}

size_t editDistance(const std::string &a, const std::string &b)
{
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

const Option *findOption(const std::string &key)
{
    for (const auto &o : options())
        if (o.info.key == key)
            return &o;
    return nullptr;
}

[[noreturn]] void unknownKey(const std::string &key, const std::string &where)
{
    std::string best;
    size_t bestD = 3;
    for (const auto &o : options()) {
        const size_t d = editDistance(key, o.info.key);
        if (d < bestD) {
            bestD = d;
            best = o.info.key;
        }
    }
    std::string msg = "unknown option '" + key + "'" + where;
    if (!best.empty())
        msg += "; did you mean '" + best + "'?";
    msg += " (see --help for every option)";
    throw ConfigError(msg);
}

std::string rangeText(const OptionInfo &i)
{
    std::ostringstream s;
    s << "[" << i.minValue << ", " << i.maxValue << "]";
    return s.str();
}

std::string joinChoices(const std::vector<std::string> &c)
{
    std::string s;
    for (size_t i = 0; i < c.size(); ++i)
        s += (i ? ", " : "") + c[i];
    return s;
}

std::string typeName(const json &v)
{
    if (v.is_string())
        return "string \"" + v.get<std::string>() + "\"";
    return std::string(v.type_name()) + " " + v.dump();
}

// Index of the first byte that is not part of well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF), or npos. Config strings are stored as JSON and in run
// files as UTF-8; a flag can carry any bytes.
size_t invalidUtf8(const std::string &s)
{
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF; // allowed range of the second byte
        if (c < 0x80)
            len = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else
            return i;
        if (len > n - i)
            return i;
        for (size_t k = 1; k < len; ++k) {
            const unsigned b = p[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
                return i;
        }
        i += len;
    }
    return std::string::npos;
}

long long toInteger(const OptionInfo &info, const json &v)
{
    double d = 0;
    const bool integral = v.is_number_integer() || v.is_number_unsigned() ||
                          (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (integral)
        d = v.get<double>();
    else
        throw ConfigError(info.key + ": expected an integer in " + rangeText(info) + ", got " + typeName(v));
    if (d < info.minValue || d > info.maxValue)
        throw ConfigError(info.key + ": " + v.dump() + " is out of range; allowed " + rangeText(info));
    return static_cast<long long>(d);
}

// Applies one JSON value to the config, with type and range checks.
void applyValue(RunConfig &c, const Option &o, const json &v)
{
    const OptionInfo &info = o.info;
    std::visit(
        [&](auto member) {
            using M = std::remove_reference_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<M, std::string>) {
                if (!v.is_string())
                    throw ConfigError(info.key + ": expected a string, got " + typeName(v));
                const auto s = v.get<std::string>();
                if (const size_t bad = invalidUtf8(s); bad != std::string::npos)
                    throw ConfigError(info.key + ": the value is not valid UTF-8 text (byte " + std::to_string(bad) +
                                      " of " + std::to_string(s.size()) + ")");
                if (info.type == OptionType::Choice &&
                    std::find(info.choices.begin(), info.choices.end(), s) == info.choices.end())
                    throw ConfigError(info.key + ": unknown value '" + s + "'; allowed: " + joinChoices(info.choices));
                c.*member = s;
            } else if constexpr (ChoiceEnum<M>) {
                if (!v.is_string())
                    throw ConfigError(info.key + ": expected one of " + joinChoices(info.choices) + ", got " +
                                      typeName(v));
                const auto parsed = parseChoice<M>(v.get<std::string>());
                if (!parsed)
                    throw ConfigError(info.key + ": unknown value '" + v.get<std::string>() +
                                      "'; allowed: " + joinChoices(info.choices));
                c.*member = *parsed;
            } else if constexpr (std::is_same_v<M, bool>) {
                if (!v.is_boolean())
                    throw ConfigError(info.key + ": expected true or false, got " + typeName(v));
                c.*member = v.get<bool>();
            } else if constexpr (std::is_same_v<M, double>) {
                if (!v.is_number())
                    throw ConfigError(info.key + ": expected a number in " + rangeText(info) + ", got " + typeName(v));
                const double d = v.get<double>();
                if (!std::isfinite(d) || d < info.minValue || d > info.maxValue)
                    throw ConfigError(info.key + ": " + v.dump() + " is out of range; allowed " + rangeText(info));
                c.*member = d;
            } else if constexpr (std::is_same_v<M, std::vector<int>>) {
                if (!v.is_array() || v.empty())
                    throw ConfigError(info.key + ": expected a non-empty list of integers, got " + typeName(v));
                std::vector<int> out;
                for (const auto &e : v)
                    out.push_back(static_cast<int>(toInteger(info, e)));
                c.*member = out;
            } else {
                c.*member = static_cast<M>(toInteger(info, v));
            }
        },
        o.member);
}

// Converts a flag's text to the JSON value its option expects (type errors are reported
// by applyValue with the option's name).
json flagValue(const OptionInfo &info, const std::string &text)
{
    switch (info.type) {
    case OptionType::String:
    case OptionType::Choice:
        return text;
    case OptionType::Bool:
        if (text == "true" || text == "1" || text == "yes" || text.empty())
            return true;
        if (text == "false" || text == "0" || text == "no")
            return false;
        throw ConfigError(info.key + ": expected true or false, got '" + text + "'");
    case OptionType::IntList: {
        json arr = json::array();
        std::stringstream ss(text);
        std::string item;
        while (std::getline(ss, item, ','))
            arr.push_back(
                flagValue(OptionInfo{info.key, OptionType::Int, "", "", {}, info.minValue, info.maxValue}, item));
        return arr;
    }
    case OptionType::Int:
    case OptionType::Float: {
        try {
            size_t used = 0;
            const double d = std::stod(text, &used);
            if (used != text.size())
                throw std::invalid_argument(text);
            if (info.type == OptionType::Int && std::floor(d) == d && std::fabs(d) < 9.1e15)
                return static_cast<long long>(d);
            return d;
        } catch (const std::logic_error &) {
            throw ConfigError(info.key + ": expected a number, got '" + text + "'");
        }
    }
    }
    return text;
}

} // namespace

const std::vector<OptionInfo> &configOptions()
{
    static const std::vector<OptionInfo> infos = [] {
        std::vector<OptionInfo> v;
        for (const auto &o : options())
            v.push_back(o.info);
        return v;
    }();
    return infos;
}

std::vector<std::string> splitList(const std::string &text)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : text + ",") {
        if (c == ',') {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    return out;
}

std::string canonicalKey(const std::string &spelling)
{
    std::string k = spelling;
    std::replace(k.begin(), k.end(), '-', '_');
    return findOption(k) ? k : std::string();
}

std::string requireKey(const std::string &spelling, const std::string &where)
{
    std::string k = canonicalKey(spelling);
    if (k.empty()) {
        std::string u = spelling;
        std::replace(u.begin(), u.end(), '-', '_');
        unknownKey(u, where);
    }
    return k;
}

RunConfig defaultConfig(ModelKind model)
{
    RunConfig c;
    c.model = model;
    applyModelDefaults(c);
    return c;
}

RunConfig defaultConfig(const std::string &model)
{
    const auto kind = parseChoice<ModelKind>(model);
    if (!kind)
        throw ConfigError("model: unknown value '" + model + "'; allowed: " + joinChoices(choiceNames<ModelKind>()));
    return defaultConfig(*kind);
}

RunConfig parseConfig(const std::string &jsonText, const std::string &origin,
                      const std::map<std::string, std::string> &flags)
{
    json file = json::object();
    if (!jsonText.empty()) {
        try {
            file = json::parse(jsonText);
        } catch (const json::exception &e) {
            // parse_error, and out_of_range for numbers beyond double (e.g. 1e999)
            throw ConfigError(origin + " is not valid JSON: " + e.what());
        }
        if (!file.is_object())
            throw ConfigError(origin + " must hold a JSON object of option: value pairs");
    }
    // Resolve every value first, so the model is known before model defaults apply.
    std::vector<std::pair<const Option *, json>> values;
    for (auto it = file.begin(); it != file.end(); ++it) {
        const Option *o = findOption(it.key());
        if (!o)
            unknownKey(it.key(), " in " + origin);
        values.emplace_back(o, it.value());
    }
    for (const auto &[spelling, text] : flags) {
        const std::string key = canonicalKey(spelling);
        if (key.empty())
            unknownKey(spelling, " (flag --" + spelling + ")");
        const Option *o = findOption(key);
        values.emplace_back(o, flagValue(o->info, text));
    }
    RunConfig c;
    for (const auto &[o, v] : values)
        if (o->info.key == "model")
            applyValue(c, *o, v);
    c = defaultConfig(c.model);
    bool warmupSet = false;
    for (const auto &[o, v] : values) {
        applyValue(c, *o, v);
        warmupSet = warmupSet || o->info.key == "warmup";
    }
    // A default warm-up never takes more than a tenth of a short run; an explicit one is kept.
    if (!warmupSet)
        c.warmup = static_cast<int>(std::min<long>(c.warmup, c.steps / 10));
    validateConfig(c);
    return c;
}

void validateConfig(const RunConfig &c)
{
    if (c.model != ModelKind::Gpt && c.data == DataSource::Text)
        throw ConfigError("data: 'text' needs model gpt; the " +
                          std::string(c.model == ModelKind::Vit ? "ViT" : "MLP") +
                          " trains on fashion-mnist or synthetic");
    if (c.model == ModelKind::Gpt && c.data == DataSource::FashionMnist)
        throw ConfigError("data: 'fashion-mnist' needs model mlp or vit; the GPT trains on text or synthetic");
    if (c.gptWidth % c.gptHeads != 0)
        throw ConfigError("gpt_heads: " + std::to_string(c.gptHeads) + " does not divide gpt_width " +
                          std::to_string(c.gptWidth));
    if (c.vitWidth % c.vitHeads != 0)
        throw ConfigError("vit_heads: " + std::to_string(c.vitHeads) + " does not divide vit_width " +
                          std::to_string(c.vitWidth));
    if (c.warmup > c.steps)
        throw ConfigError("warmup: " + std::to_string(c.warmup) + " exceeds steps " + std::to_string(c.steps));
    if (c.name.empty())
        throw ConfigError("name: must not be empty");
    int n = 0, m = 0;
    parseNm(c.nm, n, m);
    if (parseRecipe(c.recipe) == RecipeKind::TSrSteDf && (n != 2 || m != 4))
        throw ConfigError("nm: tsrste-df uses transposable 2:4 masks; set --nm 2:4 (got " + c.nm + ")");
    if (c.pgfDense + c.pgfFinetune >= 1.0)
        throw ConfigError("pgf_dense + pgf_finetune must leave a sparse span (their sum is >= 1)");
    // The ViT's head sees one row per image, so its batch itself must be a multiple of 4.
    const long rows = static_cast<long>(c.batch) * (c.model == ModelKind::Gpt ? c.context : 1);
    if (c.mvue && rows % 4 != 0)
        throw ConfigError("mvue: groups of 4 tokens need batch" +
                          std::string(c.model == ModelKind::Gpt ? " × context" : "") + " (" + std::to_string(rows) +
                          ") to be a multiple of 4");
}

std::string configToJson(const RunConfig &c, int indent)
{
    json j = json::object();
    for (const auto &o : options())
        std::visit(
            [&](auto member) {
                if constexpr (ChoiceEnum<std::remove_cvref_t<decltype(c.*member)>>)
                    j[o.info.key] = choiceName(c.*member);
                else
                    j[o.info.key] = c.*member;
            },
            o.member);
    return j.dump(indent);
}

} // namespace nm

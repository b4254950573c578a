// nmrepro: the small-scale reproduction. Trains STE, SR-STE and S-STE at 2:4 (and S-STE with
// β recomputed every step, T-SR-STE with its dense fine-tune) and SR-STE, MDGF-exp (with and
// without a hard-mask fine-tune) and SDGF-stepwise at 1:16 on the Fashion-MNIST MLP and on the
// tiny character GPT, several seeds each, and prints two tables. Results: final validation
// loss and accuracy (test accuracy for the MLP) as mean ± std over seeds, and the flip rate
// (mean over the run and over the last 10 % of steps of all sparse layers' flips / weights).
// Mechanisms, as mean ± 95 % CI over seeds (Student t): the S-STE paper's continuity
// measures (fraction of the sampled steps with ΔF₁ > 0, mean |ΔF₁ − ΔF₂|, the correlation of
// the predicted with the actual descent, for ∇_{W̃}F and for the straight-through G) and the
// PGF paper's gradient noise (coefficient of variation of ‖G‖ over the noise window, mean over
// the run and the sparse layers), continuity sampled every 10 steps. Every run uses the models'
// default config otherwise; flags:
// --models mlp,gpt --seeds 1,2,3 --mlp-steps N --gpt-steps N --jobs J.
#include "blas_setup.h"

#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/platform.h"
#include "nmcore/stats.h"
#include "nmcore/trainer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Setting {
    const char *recipe, *nm;
    std::map<std::string, std::string> extra; // options beyond the defaults
    const char *label;                        // what the extra options mean ("" for none)
};

// The mechanisms of one run: continuity samples and gradient noise.
struct Mechanisms {
    double riseFraction = NAN, gap = NAN, corr = NAN, corrSte = NAN, noise = NAN;
};

struct Job {
    std::string model;
    const Setting *setting = nullptr;
    uint64_t seed = 1;
    long steps = 0;
    // results
    float valLoss = NAN, valAcc = NAN, testAcc = NAN, flipRate = NAN, meanFlipRate = NAN;
    Mechanisms mech;
    std::string status;
    double seconds = 0;
};

double pearson(const std::vector<double> &x, const std::vector<double> &y)
{
    const size_t n = x.size();
    if (n < 3)
        return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; ++i) {
        mx += x[i];
        my += y[i];
    }
    mx /= static_cast<double>(n);
    my /= static_cast<double>(n);
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : static_cast<double>(NAN);
}

class MechanismObserver : public nm::TrainingObserver {
  public:
    void onStep(const nm::StepMetrics &m) override
    {
        for (const auto &l : m.layers)
            if (std::isfinite(l.gradNoise)) {
                m_noise += static_cast<double>(l.gradNoise);
                ++m_noiseCount;
            }
        if (!m.hasContinuity)
            return;
        const nm::ContinuityMetrics &c = m.continuity;
        if (!std::isfinite(c.dF1) || !std::isfinite(c.dF2) || !std::isfinite(c.aodActual))
            return;
        m_rises += c.dF1 > 0 ? 1 : 0;
        m_gap += static_cast<double>(std::fabs(c.dF1 - c.dF2));
        m_actual.push_back(c.aodActual);
        m_predicted.push_back(c.aodPredicted);
        m_predictedSte.push_back(c.aodPredictedSte);
    }
    Mechanisms result() const
    {
        Mechanisms r;
        const auto n = static_cast<double>(m_actual.size());
        if (n > 0) {
            r.riseFraction = m_rises / n;
            r.gap = m_gap / n;
        }
        r.corr = pearson(m_predicted, m_actual);
        r.corrSte = pearson(m_predictedSte, m_actual);
        r.noise = m_noiseCount ? m_noise / static_cast<double>(m_noiseCount) : static_cast<double>(NAN);
        return r;
    }

  private:
    double m_rises = 0, m_gap = 0, m_noise = 0;
    long m_noiseCount = 0;
    std::vector<double> m_actual, m_predicted, m_predictedSte;
};

std::string ci(const std::vector<double> &v, const char *format)
{
    const nm::MeanCi c = nm::meanCi(v);
    if (c.n == 0)
        return "–";
    char buf[96];
    if (std::isfinite(c.halfWidth)) {
        const std::string f = std::string(format) + " ± " + format;
        std::snprintf(buf, sizeof buf, f.c_str(), c.mean, c.halfWidth);
    } else
        std::snprintf(buf, sizeof buf, format, c.mean);
    return buf;
}

class FlipTail : public nm::TrainingObserver {
  public:
    explicit FlipTail(long from) : m_from(from) {}
    void onStart(const nm::RunInfo &info) override
    {
        for (const auto &l : info.layers)
            if (l.sparse)
                m_weights += static_cast<long>(l.in) * l.out;
    }
    void onStep(const nm::StepMetrics &m) override
    {
        long f = 0;
        for (const auto &l : m.layers)
            f += l.flips;
        m_allFlips += f;
        ++m_allSteps;
        if (m.step <= m_from)
            return;
        m_flips += f;
        ++m_steps;
    }
    float meanRate() const
    {
        return m_allSteps && m_weights
                   ? static_cast<float>(static_cast<double>(m_allFlips) / static_cast<double>(m_allSteps) /
                                        static_cast<double>(m_weights))
                   : NAN;
    }
    float rate() const
    {
        return m_steps && m_weights ? static_cast<float>(static_cast<double>(m_flips) / static_cast<double>(m_steps) /
                                                         static_cast<double>(m_weights))
                                    : NAN;
    }

  private:
    long m_from;
    long m_weights = 0, m_flips = 0, m_steps = 0, m_allFlips = 0, m_allSteps = 0;
};

std::vector<std::string> split(const std::string &s)
{
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string x;
    while (std::getline(ss, x, ','))
        if (!x.empty())
            out.push_back(x);
    return out;
}

void meanStd(const std::vector<float> &v, double &mean, double &sd)
{
    mean = sd = 0;
    if (v.empty())
        return;
    for (float x : v)
        mean += static_cast<double>(x);
    mean /= static_cast<double>(v.size());
    for (float x : v)
        sd += (static_cast<double>(x) - mean) * (static_cast<double>(x) - mean);
    sd = v.size() > 1 ? std::sqrt(sd / static_cast<double>(v.size() - 1)) : 0.0;
}

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    std::vector<std::string> models = {"mlp", "gpt"};
    std::vector<uint64_t> seeds = {1, 2, 3};
    long mlpSteps = 3000, gptSteps = 1500;
    int jobs = std::max(1, nm::hardwareThreads());
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "nmrepro: %s needs a value\n", a.c_str());
                std::exit(1);
            }
            return argv[++i];
        };
        if (a == "--models")
            models = split(next());
        else if (a == "--seeds") {
            seeds.clear();
            for (const auto &s : split(next()))
                seeds.push_back(std::stoull(s));
        } else if (a == "--mlp-steps")
            mlpSteps = std::stol(next());
        else if (a == "--gpt-steps")
            gptSteps = std::stol(next());
        else if (a == "--jobs")
            jobs = std::max(1, std::stoi(next()));
        else {
            std::fprintf(stderr,
                         "usage: nmrepro [--models mlp,gpt] [--seeds 1,2,3] [--mlp-steps 3000] [--gpt-steps 1500] "
                         "[--jobs J]\n");
            return a == "--help" ? 0 : 1;
        }
    }
    const std::vector<Setting> settings = {
        {"ste", "2:4", {}, ""},
        {"srste", "2:4", {}, ""},
        {"sste", "2:4", {}, ""},
        {"sste", "2:4", {{"sste_beta", "dynamic"}}, "β dynamic"},
        {"tsrste-df", "2:4", {}, "dense fine-tune 1/6"},
        {"srste", "1:16", {}, ""},
        {"mdgf-exp", "1:16", {}, ""},
        {"mdgf-exp", "1:16", {{"pgf_finetune", "0.1"}}, "hard-mask fine-tune 10 %"},
        {"sdgf-stepwise", "1:16", {}, ""},
    };
    std::vector<Job> all;
    for (const auto &model : models)
        for (const Setting &set : settings)
            for (uint64_t s : seeds) {
                Job j;
                j.model = model;
                j.setting = &set;
                j.seed = s;
                j.steps = model == "gpt" ? gptSteps : mlpSteps;
                all.push_back(j);
            }
    std::fprintf(stderr, "nmrepro: %zu runs, %d at a time | %s\n", all.size(), jobs,
                 nm::blasBanner(nm::hardwareThreads()).c_str());
    try {
        std::map<std::string, std::shared_ptr<const nm::Dataset>> data;
        for (const auto &model : models)
            data[model] = nm::loadDataset(nm::dataOptions(nm::defaultConfig(model)));
        std::mutex mu;
        size_t nextJob = 0;
        const int threadsPerJob = std::max(1, nm::hardwareThreads() / jobs);
        auto worker = [&] {
            for (;;) {
                size_t k;
                {
                    std::lock_guard lock(mu);
                    if (nextJob >= all.size())
                        return;
                    k = nextJob++;
                }
                Job &j = all[k];
                const Setting &set = *j.setting;
                std::map<std::string, std::string> flags = {
                    {"model", j.model},
                    {"recipe", set.recipe},
                    {"nm", set.nm},
                    {"seed", std::to_string(j.seed)},
                    {"steps", std::to_string(j.steps)},
                    {"threads", std::to_string(threadsPerJob)},
                    {"continuity_every", "10"}, // 300 continuity samples in the MLP's 3000 steps
                    {"name", j.model + "-" + set.recipe + "-" + set.nm + (set.extra.empty() ? "" : "-x") + "-s" +
                                 std::to_string(j.seed)},
                };
                for (const auto &[key, value] : set.extra)
                    flags[key] = value;
                const nm::RunConfig cfg = nm::parseConfig("", "nmrepro", flags);
                nm::Trainer trainer(cfg, data[j.model]);
                FlipTail tail(j.steps - j.steps / 10);
                MechanismObserver mech;
                trainer.addObserver(&tail);
                trainer.addObserver(&mech);
                const nm::RunSummary s = trainer.run();
                j.valLoss = s.valLoss;
                j.valAcc = s.valAccuracy;
                j.testAcc = s.testAccuracy;
                j.flipRate = tail.rate();
                j.meanFlipRate = tail.meanRate();
                j.mech = mech.result();
                j.status = nm::toString(s.status);
                j.seconds = s.seconds;
                std::lock_guard lock(mu);
                std::fprintf(stderr, "  %-28s val_loss %.4f val_acc %.4f flip %.2e %s %.0fs\n", cfg.name.c_str(),
                             static_cast<double>(j.valLoss), static_cast<double>(j.valAcc),
                             static_cast<double>(j.flipRate), j.status.c_str(), j.seconds);
            }
        };
        std::vector<std::thread> pool;
        for (int i = 0; i < jobs; ++i)
            pool.emplace_back(worker);
        for (auto &t : pool)
            t.join();
    } catch (const nm::Error &e) {
        std::fprintf(stderr, "nmrepro: %s\n", e.what());
        return 1;
    }
    auto title = [](const Setting &set) {
        std::string t = nm::recipeTitle(nm::parseRecipe(set.recipe));
        if (*set.label)
            t += std::string(", ") + set.label;
        return t;
    };
    // Markdown table, one row per model × setting.
    std::printf("| model | recipe | N:M | val loss | val acc (%%) | test acc (%%) | mean flip rate | final flip rate | "
                "runs |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const auto &model : models)
        for (const Setting &set : settings) {
            std::vector<float> vl, va, ta, fr, mf;
            int n = 0, diverged = 0;
            for (const Job &j : all)
                if (j.model == model && j.setting == &set) {
                    ++n;
                    if (j.status == "Diverged") {
                        ++diverged;
                        continue;
                    }
                    vl.push_back(j.valLoss);
                    va.push_back(100 * j.valAcc);
                    if (std::isfinite(j.testAcc))
                        ta.push_back(100 * j.testAcc);
                    fr.push_back(j.flipRate);
                    mf.push_back(j.meanFlipRate);
                }
            double m1, s1, m2, s2, m3, s3, m4, s4, m5, s5;
            meanStd(vl, m1, s1);
            meanStd(va, m2, s2);
            meanStd(ta, m3, s3);
            meanStd(fr, m4, s4);
            meanStd(mf, m5, s5);
            char test[64] = "–";
            if (!ta.empty())
                std::snprintf(test, sizeof test, "%.2f ± %.2f", m3, s3);
            std::printf("| %s | %s | %s | %.4f ± %.4f | %.2f ± %.2f | %s | %.2e ± %.1e | %.2e ± %.1e | %d%s |\n",
                        model.c_str(), title(set).c_str(), set.nm, m1, s1, m2, s2, test, m5, s5, m4, s4, n,
                        diverged ? (" (" + std::to_string(diverged) + " diverged)").c_str() : "");
        }
    // The mechanisms, mean ± 95 % CI over the seeds that did not diverge.
    std::printf("\n| model | recipe | N:M | steps with ΔF₁ > 0 | mean \\|ΔF₁ − ΔF₂\\| | corr(predicted, actual) | "
                "corr(straight-through, actual) | gradient noise | runs |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const auto &model : models)
        for (const Setting &set : settings) {
            std::vector<double> rise, gap, corr, corrSte, noise;
            int n = 0;
            for (const Job &j : all)
                if (j.model == model && j.setting == &set && j.status != "Diverged") {
                    ++n;
                    rise.push_back(100 * j.mech.riseFraction);
                    gap.push_back(j.mech.gap);
                    corr.push_back(j.mech.corr);
                    corrSte.push_back(j.mech.corrSte);
                    noise.push_back(j.mech.noise);
                }
            std::printf("| %s | %s | %s | %s %% | %s | %s | %s | %s | %d |\n", model.c_str(), title(set).c_str(),
                        set.nm, ci(rise, "%.1f").c_str(), ci(gap, "%.2e").c_str(), ci(corr, "%.3f").c_str(),
                        ci(corrSte, "%.3f").c_str(), ci(noise, "%.3f").c_str(), n);
        }
    return 0;
}

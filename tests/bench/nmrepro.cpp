// nmrepro: the small-scale reproduction. Trains STE, SR-STE and S-STE at 2:4 and SR-STE,
// MDGF-exp and SDGF-stepwise at 1:16 on the Fashion-MNIST MLP and on the tiny character GPT,
// several seeds each, and prints one table: final validation loss and accuracy (test accuracy
// for the MLP) as mean ± std over seeds, and the final flip rate (mean over the last 10 % of
// steps of all sparse layers' flips / weights). Every run uses the models' default config
// otherwise; flags: --models mlp,gpt --seeds 1,2,3 --mlp-steps N --gpt-steps N --jobs J.
#include "blas_setup.h"

#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/platform.h"
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

struct Job {
    std::string model, recipe, nm;
    uint64_t seed = 1;
    long steps = 0;
    // results
    float valLoss = NAN, valAcc = NAN, testAcc = NAN, flipRate = NAN, meanFlipRate = NAN;
    std::string status;
    double seconds = 0;
};

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
        return m_allSteps && m_weights ? static_cast<float>(static_cast<double>(m_allFlips) / m_allSteps / m_weights)
                                       : NAN;
    }
    float rate() const
    {
        return m_steps && m_weights ? static_cast<float>(static_cast<double>(m_flips) / m_steps / m_weights) : NAN;
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
        mean += x;
    mean /= static_cast<double>(v.size());
    for (float x : v)
        sd += (x - mean) * (x - mean);
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
    const std::pair<const char *, const char *> recipes[] = {
        {"ste", "2:4"}, {"srste", "2:4"}, {"sste", "2:4"}, {"srste", "1:16"}, {"mdgf-exp", "1:16"}, {"sdgf-stepwise", "1:16"},
    };
    std::vector<Job> all;
    for (const auto &model : models)
        for (const auto &[r, nmText] : recipes)
            for (uint64_t s : seeds) {
                Job j;
                j.model = model;
                j.recipe = r;
                j.nm = nmText;
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
                std::map<std::string, std::string> flags = {
                    {"model", j.model},   {"recipe", j.recipe},
                    {"nm", j.nm},         {"seed", std::to_string(j.seed)},
                    {"steps", std::to_string(j.steps)}, {"threads", std::to_string(threadsPerJob)},
                    {"name", j.model + "-" + j.recipe + "-" + j.nm + "-s" + std::to_string(j.seed)},
                };
                const nm::RunConfig cfg = nm::parseConfig("", "nmrepro", flags);
                nm::Trainer trainer(cfg, data[j.model]);
                FlipTail tail(j.steps - j.steps / 10);
                trainer.addObserver(&tail);
                const nm::RunSummary s = trainer.run();
                j.valLoss = s.valLoss;
                j.valAcc = s.valAccuracy;
                j.testAcc = s.testAccuracy;
                j.flipRate = tail.rate();
                j.meanFlipRate = tail.meanRate();
                j.status = nm::toString(s.status);
                j.seconds = s.seconds;
                std::lock_guard lock(mu);
                std::fprintf(stderr, "  %-28s val_loss %.4f val_acc %.4f flip %.2e %s %.0fs\n", cfg.name.c_str(),
                             j.valLoss, j.valAcc, j.flipRate, j.status.c_str(), j.seconds);
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
    // Markdown table, one row per model × recipe × N:M.
    std::printf("| model | recipe | N:M | val loss | val acc (%%) | test acc (%%) | mean flip rate | final flip rate | "
                "runs |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const auto &model : models)
        for (const auto &[r, nmText] : recipes) {
            std::vector<float> vl, va, ta, fr, mf;
            int n = 0, diverged = 0;
            for (const Job &j : all)
                if (j.model == model && j.recipe == r && j.nm == nmText) {
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
                        model.c_str(), nm::recipeTitle(nm::parseRecipe(r)).c_str(), nmText, m1, s1, m2, s2, test, m5,
                        s5, m4, s4, n,
                        diverged ? (" (" + std::to_string(diverged) + " diverged)").c_str() : "");
        }
    return 0;
}

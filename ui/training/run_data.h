#pragma once
// The values that carry a run's metrics from its training thread to the UI thread, and the
// tables the RunStore keeps them in. Plain data: batches are copied across queued
// connections, never shared with a running trainer.
//
// Column names follow the run-file datasets (core/include/nmcore/runfile.h): a table holds
// scalar columns ("loss", "accuracy", "lr", "grad_norm", …) and per-layer columns named
// "<field>/<sparse layer index>" ("flip_rate/0", "grad_noise_kept/1", …).
#include "nmcore/sparsity.h"
#include "nmcore/trainer.h"

#include <QColor>
#include <QString>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nmui {

// Rows that share one step axis: the training log, validation, test or continuity points.
struct MetricTable {
    std::vector<double> step;  // optimiser steps completed
    std::vector<double> time;  // training (process) time in seconds: step times only, pauses excluded
    std::vector<double> wall;  // wall-clock seconds since the run started, pauses included; may be empty
    std::vector<double> flops; // theoretical training FLOPs so far (train/flops); may be empty
    std::map<std::string, std::vector<float>> columns; // each as long as `step`

    size_t size() const { return step.size(); }
    bool empty() const { return step.empty(); }
    const std::vector<float> *column(const std::string &name) const;
    // Appends `rows`; a column present on one side only is padded with NaN.
    void append(const MetricTable &rows);
    // The rows with step <= maxStep (the shared prefix of a forked run).
    MetricTable prefix(double maxStep) const;
    void clear();
};

std::string layerColumn(const std::string &field, int layer);

// Which table of a run a curve reads.
enum class TableKind { Train, Validation, Test, Continuity };

enum class RunState { Ready, Starting, Running, Paused, Completed, Stopped, Diverged, Failed, Loaded };
QString stateName(RunState s);
bool isFinished(RunState s);

// What the UI knows about a run besides its series.
struct RunMeta {
    int id = -1;
    QString name;
    nm::RunConfig config;
    QString recipeTitle; // "SR-STE"
    QColor color;
    bool visible = true;
    RunState state = RunState::Ready;
    QString error;                     // why a run failed
    QString source;                    // empty for runs trained here; the file it was read from otherwise
    int sourceIndex = -1;              // the run's index in that file
    std::vector<long> checkpointSteps; // steps a fork or resume continues from exactly (file runs)
    QString blasKernel;                // OpenBLAS kernel of the machine that wrote the file
    QString trainedWith;               // non-empty for runs trained outside nmstudio's engine (the file's tool_version)
    int parentId = -1;                 // a fork's parent run
    long forkStep = -1;                // the step it was forked at
    long step = 0;                     // last step received
    std::vector<nm::SparseLayerInfo> layers; // every Linear layer (model order)
    std::vector<std::string> sparseLayers;   // sparse layers: the per-layer column order
    long parameterCount = 0, effectiveParameterCount = 0;
    QString modelDescription, dataDescription;
    int threads = 0;
    nm::RunSummary summary; // final metrics once finished
    bool hasSummary = false;
    float bestValAccuracy = NAN;

    // Runs with the same key differ only in seed (and name): they form one seed group.
    QString groupKey() const;
    // "STE s1"-style label used in legends.
    QString label() const { return name; }
};

// One flush from a training thread: everything observed since the last one.
struct RunBatch {
    int runId = -1;
    bool started = false; // info is valid: the trainer called onStart
    nm::RunInfo info;
    long forkStep = -1; // set once, by a fork's first batch: copy the parent's prefix up to it
    MetricTable train, val, test, continuity;
    std::vector<std::shared_ptr<const nm::Snapshot>> snapshots;
    bool paused = false; // the worker is waiting (pause or after a single step)
    bool ended = false;
    nm::RunSummary summary;
    QString error; // non-empty: the run failed (bad config, missing data)
};

} // namespace nmui

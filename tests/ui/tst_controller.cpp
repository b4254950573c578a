// TrainingController: runs train on worker threads and reach the RunStore in batches;
// pause, single step, stop, reset, live settings and fork behave as the GUI promises.
#include "ui_test_main.h"

#include "training/run_store.h"
#include "training/training_controller.h"

#include "nmcore/config.h"
#include "nmcore/error.h"

#include <QSignalSpy>

#include <cmath>

using namespace nmui;
using State = TrainingController::State;

namespace {

nm::RunConfig smallRun(const std::string &recipe, long steps)
{
    nm::RunConfig c = nm::defaultConfig();
    c.name = recipe;
    c.recipe = recipe;
    c.data = nm::DataSource::Synthetic;
    c.mlpHidden = {32, 32};
    c.sparseLayers = "all";
    c.steps = steps;
    c.evalEvery = 20;
    c.snapshotEvery = 20;
    c.continuityEvery = 10;
    c.batch = 32;
    c.threads = 1;
    return c;
}

long stepOf(const RunStore &s, int id)
{
    return s.run(id)->meta.step;
}

} // namespace

class TestController : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void runsTrainToCompletion()
    {
        RunStore store;
        TrainingController c(&store);
        c.setExperiment({smallRun("ste", 60), smallRun("srste", 60)});
        const QList<int> ids = c.experimentRuns();
        QCOMPARE(ids.size(), 2);
        QCOMPARE(store.run(ids[0])->meta.state, RunState::Ready);
        QSignalSpy data(&store, &RunStore::dataChanged);
        c.start();
        QCOMPARE(c.state(), State::Running);
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 30000);
        QVERIFY(data.count() >= 1);
        for (int id : ids) {
            const Run *r = store.run(id);
            QCOMPARE(r->meta.state, RunState::Completed);
            QCOMPARE(r->train.size(), size_t(60));
            QCOMPARE(r->train.step.front(), 1.0);
            QCOMPARE(r->train.step.back(), 60.0);
            QCOMPARE(r->train.column("loss")->size(), size_t(60));
            QCOMPARE(r->meta.sparseLayers.size(), size_t(3)); // fc1, fc2, fc3
            QCOMPARE(r->train.column("flip_rate/2")->size(), size_t(60));
            QVERIFY(r->val.size() >= 3);
            QCOMPARE(r->test.size(), size_t(1));
            QCOMPARE(r->continuity.size(), size_t(6));
            QCOMPARE(static_cast<long>(r->snapshots.size()), 4L); // steps 0, 20, 40, 60
            QVERIFY(r->meta.hasSummary);
            QVERIFY(std::isfinite(r->meta.bestValAccuracy));
            // Training time excludes pauses and grows; wall time is recorded too.
            QVERIFY(r->train.time.back() > r->train.time.front());
            QCOMPARE(r->train.wall.size(), r->train.size());
            // Training FLOPs so far, on every table: equal steps cost equal FLOPs here.
            QCOMPARE(r->train.flops.size(), r->train.size());
            QCOMPARE(r->continuity.flops.size(), r->continuity.size());
            QVERIFY(r->train.flops.front() > 0);
            QVERIFY(std::abs(r->train.flops.back() - 60 * r->train.flops.front()) < 1e-9 * r->train.flops.back());
            QCOMPARE(r->test.flops.back(), r->train.flops.back());
        }
        // SR-STE logs its λ, STE none.
        QCOMPARE(store.run(ids[1])->train.column("lambda/0")->back(), 2e-4f);
        QCOMPARE(store.run(ids[0])->train.column("lambda/0")->back(), 0.0f);
    }

    void pauseHoldsAndResumeContinues()
    {
        RunStore store;
        TrainingController c(&store);
        c.setExperiment({smallRun("ste", 1000000), smallRun("sste", 1000000)});
        const QList<int> ids = c.experimentRuns();
        c.start();
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(store, ids[0]) > 5 && stepOf(store, ids[1]) > 5, 20000);
        c.pause();
        QCOMPARE(c.state(), State::Paused);
        // The workers report where they stopped, then nothing moves.
        QTRY_VERIFY_WITH_TIMEOUT(store.run(ids[0])->meta.state == RunState::Paused, 5000);
        QTest::qWait(100);
        const long s0 = stepOf(store, ids[0]), s1 = stepOf(store, ids[1]);
        QTest::qWait(300);
        QCOMPARE(stepOf(store, ids[0]), s0);
        QCOMPARE(stepOf(store, ids[1]), s1);
        QCOMPARE(c.progress().stepsPerSecond, 0.0);
        c.resume();
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(store, ids[0]) > s0 + 5, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(c.progress().stepsPerSecond > 0, 5000);
        c.stop();
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 20000);
        QCOMPARE(store.run(ids[0])->meta.state, RunState::Stopped);
        QCOMPARE(store.run(ids[0])->meta.summary.status, nm::RunStatus::Stopped);
        QVERIFY(c.progress().elapsed > 0);
    }

    void singleStepFromIdle()
    {
        RunStore store;
        TrainingController c(&store);
        c.setExperiment({smallRun("srste", 100)});
        const int id = c.experimentRuns().first();
        c.stepOnce();
        QCOMPARE(c.state(), State::Paused);
        QTRY_COMPARE_WITH_TIMEOUT(stepOf(store, id), 1L, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(store.run(id)->meta.state, RunState::Paused, 5000);
        c.stepOnce();
        c.stepOnce();
        QTRY_COMPARE_WITH_TIMEOUT(stepOf(store, id), 3L, 10000);
        QTest::qWait(200);
        QCOMPARE(stepOf(store, id), 3L);
        QCOMPARE(store.run(id)->train.size(), size_t(3));
        c.reset();
        QCOMPARE(c.state(), State::Idle);
        QCOMPARE(store.run(id)->meta.state, RunState::Ready);
        QCOMPARE(store.run(id)->train.size(), size_t(0));
        // Batches of the retired worker that were still in flight are dropped.
        QTest::qWait(100);
        QCOMPARE(store.run(id)->train.size(), size_t(0));
    }

    void liveSettingsApplyAtTheNextStep()
    {
        RunStore store;
        TrainingController c(&store);
        nm::RunConfig cfg = smallRun("srste", 100000);
        c.setExperiment({cfg});
        const int id = c.experimentRuns().first();
        c.stepOnce();
        QTRY_COMPARE_WITH_TIMEOUT(stepOf(store, id), 1L, 10000);
        QVERIFY(std::abs(store.run(id)->train.column("lr")->back() - 0.05f) < 1e-4f);
        c.setLiveSettings({0.125, 1e-3, 1});
        c.stepOnce();
        QTRY_COMPARE_WITH_TIMEOUT(stepOf(store, id), 2L, 10000);
        QVERIFY(std::abs(store.run(id)->train.column("lr")->back() - 0.125f) < 1e-4f);
        QCOMPARE(store.run(id)->train.column("lambda/0")->back(), 1e-3f);
    }

    void loggingIntervalAggregates()
    {
        RunStore store;
        TrainingController c(&store);
        c.setExperiment({smallRun("ste", 60)});
        c.setLiveSettings({0.05, 2e-4, 10});
        const int id = c.experimentRuns().first();
        c.start();
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 20000);
        const Run *r = store.run(id);
        QCOMPARE(r->train.size(), size_t(6));
        QCOMPARE(r->train.step[0], 10.0);
        QCOMPARE(r->train.step.back(), 60.0);
        // Flips are summed over the window, flip rates averaged: flips = rate · size · steps.
        const float flips = (*r->train.column("flips/1"))[2];
        const float rate = (*r->train.column("flip_rate/1"))[2];
        QVERIFY(std::abs(flips - rate * 32 * 32 * 10) <= 0.01f * flips + 1);
    }

    void forkLiveAndReplayedAgree()
    {
        // A fork made from the live trainer at step 30 and one that replays the parent's first
        // 30 steps from its config continue identically.
        RunStore store;
        TrainingController c(&store);
        c.setExperiment({smallRun("ste", 60)});
        const int parent = c.experimentRuns().first();
        c.stepOnce();
        for (int i = 1; i < 30; ++i)
            c.stepOnce();
        QTRY_COMPARE_WITH_TIMEOUT(stepOf(store, parent), 30L, 20000);
        nm::RunConfig child = smallRun("srste", 60);
        child.name = "live fork";
        QString error;
        const int live = c.fork(parent, -1, child, &error);
        QVERIFY2(live > 0, qPrintable(error));
        c.resume();
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 30000);
        QCOMPARE(store.run(live)->meta.state, RunState::Completed);
        QCOMPARE(store.run(live)->meta.forkStep, 30L);
        QCOMPARE(store.run(live)->meta.parentId, parent);

        child.name = "replayed fork";
        const int replayed = c.fork(parent, 30, child, &error);
        QVERIFY2(replayed > 0, qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 30000);
        const Run *a = store.run(live), *b = store.run(replayed);
        QCOMPARE(b->meta.state, RunState::Completed);
        QCOMPARE(a->train.size(), size_t(60)); // 30 shared with the parent + 30 of its own
        QCOMPARE(b->train.size(), size_t(60));
        const auto &la = *a->train.column("loss"), &lb = *b->train.column("loss");
        const auto &lp = *store.run(parent)->train.column("loss");
        for (size_t i = 0; i < 30; ++i)
            QCOMPARE(la[i], lp[i]); // the shared prefix
        for (size_t i = 30; i < 60; ++i)
            QCOMPARE(lb[i], la[i]);
        QVERIFY(la[45] != lp[45]); // SR-STE went its own way
    }

    void invalidInputIsRefused()
    {
        RunStore store;
        TrainingController c(&store);
        nm::RunConfig bad = smallRun("ste", 10);
        bad.nm = "4:2";
        QVERIFY_THROWS_EXCEPTION(nm::ConfigError, c.setExperiment({bad}));
        c.setExperiment({smallRun("ste", 10)});
        c.start();
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 20000);
        QString error;
        QCOMPARE(c.fork(c.experimentRuns().first(), 5, smallRun("srste", 5), &error), -1);
        QVERIFY(error.contains("steps"));
        QCOMPARE(c.fork(c.experimentRuns().first(), 50, smallRun("srste", 100), &error), -1);
        QVERIFY(error.contains("beyond"));
    }

    void missingDataFailsTheRun()
    {
        RunStore store;
        TrainingController c(&store);
        nm::RunConfig cfg = smallRun("ste", 10);
        cfg.data = nm::DataSource::FashionMnist;
        cfg.dataDir = "/nonexistent/fmnist";
        c.setExperiment({cfg});
        QSignalSpy failed(&c, &TrainingController::runFailed);
        c.start();
        QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Finished, 10000);
        QCOMPARE(failed.count(), 1);
        const Run *r = store.run(c.experimentRuns().first());
        QCOMPARE(r->meta.state, RunState::Failed);
        QVERIFY(r->meta.error.contains("not found"));
    }
};

NM_UI_TEST_MAIN(TestController)
#include "tst_controller.moc"

#include "training/run_worker.h"

#include "nmcore/error.h"

#include <cmath>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nmui {

std::shared_ptr<const nm::Dataset> DatasetCache::get(const nm::DataOptions &o)
{
    const std::string key = nm::choiceName(o.source) + '|' + std::to_string(static_cast<int>(o.task)) + '|' + o.idxDir +
                            '|' + o.textFile + '|' + std::to_string(o.valCount) + '|' +
                            std::to_string(o.textValFraction);
    std::lock_guard lock(m_mutex); // a second run that needs the same data waits for the first load
    auto &slot = m_sets[key];
    if (!slot)
        slot = nm::loadDataset(o);
    return slot;
}

RunWorker::RunWorker(int runId, Source source, std::shared_ptr<DatasetCache> data,
                     std::shared_ptr<ComputeSlots> computeSlots, BatchObserver::Post post)
    : m_runId(runId), m_source(std::move(source)), m_data(std::move(data)), m_slots(std::move(computeSlots)),
      m_observer(runId, std::move(post))
{
}

RunWorker::~RunWorker()
{
    requestStop();
    join();
}

void RunWorker::start(bool paused)
{
    m_paused = paused;
    m_thread = std::thread([this] { threadMain(); });
}

void RunWorker::setPaused(bool paused)
{
    {
        std::lock_guard lock(m_mutex);
        m_paused = paused;
    }
    m_cv.notify_all();
}

void RunWorker::requestStep()
{
    {
        std::lock_guard lock(m_mutex);
        m_paused = true;
        ++m_stepsRequested;
    }
    m_cv.notify_all();
}

void RunWorker::requestStop()
{
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
}

void RunWorker::setLive(const nm::LiveSettings &live)
{
    std::lock_guard lock(m_mutex);
    m_live = live;
    m_liveSet = true;
    if (m_trainer)
        m_trainer->setLiveSettings(live);
}

bool RunWorker::requestFork(const nm::RunConfig &child, RunWorker *target)
{
    {
        std::lock_guard lock(m_mutex);
        if (m_done)
            return false;
        m_forks.push_back({child, target});
    }
    m_cv.notify_all();
    return true;
}

void RunWorker::provide(std::unique_ptr<nm::Trainer> trainer, long step, const std::string &error)
{
    {
        std::lock_guard lock(m_mutex);
        m_source.trainer = std::move(trainer);
        m_source.forkStep = step;
        m_provideError = error;
        m_provided = true;
    }
    m_cv.notify_all();
}

bool RunWorker::finished() const
{
    std::lock_guard lock(m_mutex);
    return m_done;
}

void RunWorker::join()
{
    if (m_thread.joinable())
        m_thread.join();
}

nm::Trainer *RunWorker::finishedTrainer()
{
    return finished() && !m_thread.joinable() ? m_trainer.get() : nullptr;
}

std::unique_ptr<nm::Trainer> RunWorker::acquire()
{
    Source &s = m_source;
    if (s.handoff) {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [&] { return m_provided || m_stop || s.trainer; });
        if (!m_provideError.empty())
            throw nm::Error(m_provideError);
        if (!s.trainer)
            return nullptr; // stopped before the parent reached the fork
        m_observer.setForkStep(s.forkStep);
        return std::move(s.trainer);
    }
    if (s.replay) {
        auto data = m_data->get(nm::dataOptions(s.replayConfig));
        m_observer.setForkStep(s.replaySteps);
        if (s.replayFrom && s.replayFrom->step == s.replaySteps) // a checkpoint at the fork step: nothing to replay
            return nm::Trainer::resume(s.replayConfig, s.config, data, *s.replayFrom);
        auto parent = s.replayFrom ? nm::Trainer::resume(s.replayConfig, s.replayConfig, data, *s.replayFrom)
                                   : std::make_unique<nm::Trainer>(s.replayConfig, data);
        while (parent->step() < s.replaySteps) {
            {
                std::lock_guard lock(m_mutex);
                if (m_stop)
                    return nullptr;
            }
            ComputeSlots::Guard slot(m_slots.get());
            if (!parent->stepOnce() && parent->step() < s.replaySteps)
                throw nm::Error("fork: the parent run ended at step " + std::to_string(parent->step()) +
                                " before reaching step " + std::to_string(s.replaySteps));
        }
        return parent->fork(s.config);
    }
    return std::make_unique<nm::Trainer>(s.config, m_data->get(nm::dataOptions(s.config)));
}

void RunWorker::threadMain()
{
    // Training yields to the UI thread: on Linux the nice value is per thread, and the OpenMP
    // team (OpenBLAS included) this thread starts inherits it. Best effort; failure is harmless.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
    try {
        auto trainer = acquire();
        if (trainer) {
            trainer->addObserver(&m_observer);
            attachRecorder(*trainer);
            m_step = trainer->step();
            {
                std::lock_guard lock(m_mutex);
                m_trainer = std::move(trainer);
                if (m_liveSet)
                    m_trainer->setLiveSettings(m_live);
            }
            loop();
        } else {
            nm::RunSummary stopped;
            stopped.name = m_source.config.name;
            stopped.step = std::max(0L, m_source.forkStep);
            stopped.status = nm::RunStatus::Stopped;
            stopped.valLoss = stopped.valAccuracy = stopped.testLoss = stopped.testAccuracy = NAN;
            m_observer.onEnd(stopped);
        }
    } catch (const std::exception &e) {
        m_observer.fail(e.what());
    }
    std::vector<ForkRequest> late;
    {
        std::lock_guard lock(m_mutex);
        m_done = true;
        late.swap(m_forks);
    }
    serveForks(late);
    m_source.recorder = {}; // the last holder closes the run file
}

void RunWorker::attachRecorder(nm::Trainer &trainer)
{
    if (!m_source.recorder.valid() || m_source.recordIndex < 0)
        return;
    try {
        if (const auto &writer = m_source.recorder.get())
            trainer.addObserver(writer->observer(m_source.recordIndex));
    } catch (const std::exception &) {
        // The controller reports why the file could not be created; the run trains anyway.
    }
}

void RunWorker::loop()
{
    enum class Next { Step, Stop, Serve };
    for (;;) {
        std::vector<ForkRequest> forks;
        Next next = Next::Step;
        {
            std::unique_lock lock(m_mutex);
            bool flushed = false;
            for (;;) {
                if (!m_forks.empty()) {
                    forks.swap(m_forks);
                    next = Next::Serve;
                    break;
                }
                if (m_stop) {
                    next = Next::Stop;
                    break;
                }
                if (!m_paused)
                    break;
                if (m_stepsRequested > 0) {
                    --m_stepsRequested;
                    break;
                }
                if (!flushed) { // tell the UI where the run stands before waiting
                    lock.unlock();
                    m_observer.flush(true);
                    lock.lock();
                    flushed = true;
                    continue;
                }
                m_cv.wait(lock);
            }
        }
        if (next == Next::Serve) {
            serveForks(forks);
            continue;
        }
        ComputeSlots::Guard slot(m_slots.get());
        if (next == Next::Stop) {
            m_trainer->requestStop();
            m_trainer->run(); // ends at once with status Stopped (final evaluation included)
            return;
        }
        const bool more = m_trainer->stepOnce();
        m_step = m_trainer->step();
        if (!more)
            return;
    }
}

void RunWorker::serveForks(std::vector<ForkRequest> &requests)
{
    if (requests.empty())
        return;
    m_observer.flush(); // the parent's rows up to the fork step reach the UI before the child's
    for (auto &r : requests) {
        if (!m_trainer) {
            r.target->provide(nullptr, 0, "fork: the parent run has no trainer (it failed to start)");
            continue;
        }
        try {
            r.target->provide(m_trainer->fork(r.child), m_trainer->step(), "");
        } catch (const std::exception &e) {
            r.target->provide(nullptr, 0, e.what());
        }
    }
}

} // namespace nmui

#pragma once
// Compute slots: at most `count` runs step at any moment, each on its share of the cores, and
// waiting runs are served first come, first served, so every run keeps advancing and the
// cores are never oversubscribed, whatever the number of runs (nm::Experiment and the GUI's
// workers, forks included).
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace nm {

class ComputeSlots {
  public:
    explicit ComputeSlots(int count) : m_free(count) {}
    void acquire(); // blocks until it is this caller's turn and a slot is free
    void release();

    // Holds a slot for one scope (a null ComputeSlots holds nothing).
    class Guard {
      public:
        explicit Guard(ComputeSlots *s) : m_slots(s)
        {
            if (m_slots)
                m_slots->acquire();
        }
        ~Guard()
        {
            if (m_slots)
                m_slots->release();
        }
        Guard(const Guard &) = delete;
        Guard &operator=(const Guard &) = delete;

      private:
        ComputeSlots *m_slots;
    };

  private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    int m_free;
    uint64_t m_nextTicket = 0, m_serving = 0;
};

} // namespace nm

#include "nmcore/compute_slots.h"

namespace nm {

void ComputeSlots::acquire()
{
    std::unique_lock lock(m_mutex);
    const uint64_t ticket = m_nextTicket++;
    m_cv.wait(lock, [&] { return ticket == m_serving && m_free > 0; });
    --m_free;
    ++m_serving;
    m_cv.notify_all();
}

void ComputeSlots::release()
{
    {
        std::lock_guard lock(m_mutex);
        ++m_free;
    }
    m_cv.notify_all();
}

} // namespace nm

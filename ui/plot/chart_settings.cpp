#include "plot/chart_settings.h"

#include "plot/series_math.h"

namespace nmui {

void ChartSettings::setSmoothing(double w)
{
    w = plot::clampSmoothing(w);
    if (w != m_smoothing) {
        m_smoothing = w;
        Q_EMIT changed();
    }
}

void ChartSettings::setXMode(XAxisMode m)
{
    if (m != m_xMode) {
        m_xMode = m;
        Q_EMIT changed();
    }
}

void ChartSettings::setGroupSeeds(bool on)
{
    if (on != m_groupSeeds) {
        m_groupSeeds = on;
        Q_EMIT changed();
    }
}

void ChartSettings::setSeedBand(SeedBand b)
{
    if (b != m_seedBand) {
        m_seedBand = b;
        Q_EMIT changed();
    }
}

void ChartSettings::setLinkX(bool on)
{
    if (on != m_linkX) {
        m_linkX = on;
        Q_EMIT changed();
    }
}

void ChartSettings::setFollowLatest(bool on)
{
    if (on != m_follow) {
        m_follow = on;
        Q_EMIT changed();
    }
}

} // namespace nmui

#pragma once
// View settings shared by the line charts (TensorBoard-style global controls): smoothing,
// the x axis, seed grouping and follow-latest. Each chart keeps its own log-y switch.
#include <QObject>

namespace nmui {

enum class XAxisMode {
    Step, // optimiser step
    Time, // training time: step times only, pauses excluded (W&B "relative time, process")
    Wall  // wall-clock time since the run started, pauses included
};

class ChartSettings : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;

    double smoothing() const { return m_smoothing; }
    XAxisMode xMode() const { return m_xMode; }
    bool groupSeeds() const { return m_groupSeeds; }
    bool followLatest() const { return m_follow; }

    void setSmoothing(double w);
    void setXMode(XAxisMode m);
    void setGroupSeeds(bool on);
    void setFollowLatest(bool on);

Q_SIGNALS:
    void changed();

private:
    double m_smoothing = 0.9;
    XAxisMode m_xMode = XAxisMode::Step;
    bool m_groupSeeds = true;
    bool m_follow = false;
};

} // namespace nmui

#pragma once
// View settings shared by the line charts (TensorBoard-style global controls): smoothing,
// the x axis, seed grouping and its band, and follow-latest. Each chart keeps its own log-y switch.
#include <QObject>

namespace nmui {

enum class XAxisMode {
    Step, // optimiser step
    Time, // training time: step times only, pauses excluded (W&B "relative time, process")
    Wall, // wall-clock time since the run started, pauses included
    Flops // theoretical training FLOPs so far (runs that recorded them)
};

// What the band around a seed group's mean line shows.
enum class SeedBand {
    Ci95,  // 95 % confidence interval of the mean (Student t over the seeds): the default
    MinMax // lowest to highest seed
};

class ChartSettings : public QObject {
    Q_OBJECT
  public:
    using QObject::QObject;

    double smoothing() const { return m_smoothing; }
    XAxisMode xMode() const { return m_xMode; }
    bool groupSeeds() const { return m_groupSeeds; }
    SeedBand seedBand() const { return m_seedBand; }
    bool followLatest() const { return m_follow; }
    // Zooming one line chart of a page zooms the others with the same x axis.
    bool linkX() const { return m_linkX; }

    void setSmoothing(double w);
    void setXMode(XAxisMode m);
    void setGroupSeeds(bool on);
    void setSeedBand(SeedBand b);
    void setFollowLatest(bool on);
    void setLinkX(bool on);

  Q_SIGNALS:
    void changed();

  private:
    double m_smoothing = 0.9;
    XAxisMode m_xMode = XAxisMode::Step;
    bool m_groupSeeds = true;
    SeedBand m_seedBand = SeedBand::Ci95;
    bool m_follow = false;
    bool m_linkX = true;
};

} // namespace nmui

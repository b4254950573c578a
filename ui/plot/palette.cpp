#include "plot/palette.h"

#include <algorithm>
#include <cmath>

namespace nmui {

namespace {

// viridis sampled at 10 evenly spaced points (matplotlib's map, CC0; the same values as
// viridisLite::viridis(10)); the tables interpolate linearly between them.
constexpr std::array<QRgb, 10> kViridis = {0x440154, 0x482878, 0x3e4a89, 0x31688e, 0x26828e,
                                           0x1f9e89, 0x35b779, 0x6dcd59, 0xb4de2c, 0xfde725};
// ColorBrewer RdBu (11 classes), ordered blue (negative) to red (positive).
constexpr std::array<QRgb, 11> kDiverging = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                             0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};

template <size_t N> QRgb sample(const std::array<QRgb, N> &stops, double t)
{
    t = std::clamp(t, 0.0, 1.0) * static_cast<double>(N - 1);
    const size_t i = std::min(static_cast<size_t>(t), N - 2);
    const double f = t - static_cast<double>(i);
    auto mix = [f](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * f)); };
    const QRgb a = stops[i], b = stops[i + 1];
    return qRgb(mix(qRed(a), qRed(b)), mix(qGreen(a), qGreen(b)), mix(qBlue(a), qBlue(b)));
}

template <size_t N> ColorTable makeTable(const std::array<QRgb, N> &stops)
{
    ColorTable t{};
    for (size_t i = 0; i < t.size(); ++i)
        t[i] = sample(stops, static_cast<double>(i) / 255.0);
    return t;
}

template <size_t N> QGradientStops makeStops(const std::array<QRgb, N> &stops)
{
    QGradientStops g;
    for (size_t i = 0; i < N; ++i)
        g.append({static_cast<double>(i) / static_cast<double>(N - 1), QColor(stops[i])});
    return g;
}

} // namespace

const QList<QColor> &runPalette()
{
    static const QList<QColor> colors = {// Okabe–Ito without black first, yellow late (weak on white).
                                         QColor(0x0072B2), QColor(0xD55E00), QColor(0x009E73), QColor(0xE69F00),
                                         QColor(0xCC79A7), QColor(0x56B4E9), QColor(QRgb(0x000000)), QColor(0xF0E442),
                                         // Paul Tol "muted".
                                         QColor(0x332288), QColor(0x117733), QColor(0x882255), QColor(0x999933),
                                         QColor(0x44AA99), QColor(0xAA4499), QColor(0xCC6677), QColor(0xDDCC77),
                                         QColor(0x88CCEE)};
    return colors;
}

QColor nextRunColor(const QList<QColor> &used)
{
    const auto &p = runPalette();
    for (const QColor &c : p)
        if (!used.contains(c))
            return c;
    return p[used.size() % p.size()];
}

const ColorTable &viridisTable()
{
    static const ColorTable t = makeTable(kViridis);
    return t;
}

const ColorTable &divergingTable()
{
    static const ColorTable t = makeTable(kDiverging);
    return t;
}

QGradientStops viridisStops()
{
    return makeStops(kViridis);
}

QGradientStops divergingStops()
{
    return makeStops(kDiverging);
}

} // namespace nmui

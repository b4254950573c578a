#pragma once
// Colours: one stable, colour-blind-safe colour per run (Okabe & Ito 2008, then Paul Tol's
// "muted" set), viridis for magnitudes (the heatmaps) and a red–blue diverging map centred
// at zero for differences and signed weights.
#include <QColor>
#include <QGradient>
#include <QList>
#include <QRgb>

#include <array>

namespace nmui {

// The run palette in assignment order.
const QList<QColor> &runPalette();
// The first palette colour not in `used` (cycling once every colour is taken).
QColor nextRunColor(const QList<QColor> &used);

// 256-entry lookup tables.
using ColorTable = std::array<QRgb, 256>;
const ColorTable &viridisTable();
const ColorTable &divergingTable(); // index 0: most negative (blue), 128: zero (white), 255: most positive (red)

// The same maps as gradient stops (position 0..1) for QColorAxis.
QGradientStops viridisStops();
QGradientStops divergingStops();

} // namespace nmui

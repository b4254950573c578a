#pragma once
// Every key nmstudio keeps in QSettings (per user: ~/.config/nmstudio/nmstudio.conf), in one
// place. Tests run with QStandardPaths' test mode, away from the user's file.
namespace nmui::settings {

// Window
inline constexpr char kGeometry[] = "window/geometry";
inline constexpr char kState[] = "window/state";
inline constexpr char kPage[] = "window/page";
inline constexpr char kStarted[] = "started"; // set once the window has closed normally
// Charts
inline constexpr char kSmoothing[] = "charts/smoothing";
inline constexpr char kXMode[] = "charts/xMode";
inline constexpr char kGroupSeeds[] = "charts/groupSeeds";
inline constexpr char kSeedBand[] = "charts/seedBand"; // "ci95" or "minmax"
inline constexpr char kFollow[] = "charts/follow";
inline constexpr char kLinkX[] = "charts/linkX";
// The experiment form, recording, files
inline constexpr char kExperimentForm[] = "experiment/form";
inline constexpr char kRecordFolder[] = "record/folder";
inline constexpr char kRecordOn[] = "record/on";
inline constexpr char kRecentFiles[] = "files/recent";
inline constexpr char kOpenDir[] = "open/dir";
inline constexpr char kExportDir[] = "export/dir";
inline constexpr char kFigure[] = "export/figure"; // a figure preset's name, or "screen"
inline constexpr char kShowSample[] = "samples/show";

} // namespace nmui::settings

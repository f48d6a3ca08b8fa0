// PNG figures rendered by gnuplot.
//
// Every function writes two files into `dir` (created if missing):
//   <dir>/<name>.dat  the plotted data as whitespace-separated columns under '#' comment headers;
//                     always written (atomically), so the numbers exist even without gnuplot.
//   <dir>/<name>.png  the figure; gnuplot renders it to a temporary name that is then renamed, so
//                     a reader never sees a partial image.
// Return value: true if the PNG was written; false, with *why set (when why != nullptr), if
// gnuplot is not on PATH. Throws std::runtime_error if gnuplot is present but fails (the message
// carries gnuplot's stderr), std::invalid_argument for inconsistent inputs (mismatched lengths,
// class ids out of range, an empty name or one containing '/').
// Temporaries (script, error log, partial PNG) are named ".<name>.tmp-<pid>-<n>.*" and removed
// whatever happens. Text (labels, titles, class names) is shown literally: no enhanced-text markup.
// Non-finite values are written to the .dat as NaN and skipped in the plot.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sptrain::plots {

// True if an executable "gnuplot" is found on PATH; otherwise false with *why set, e.g.
// "gnuplot not found on PATH". The pngcairo terminal is used when gnuplot has it, else png.
bool gnuplot_available(std::string* why = nullptr);

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length
};

// Lines with points, one per series (e.g. loss and val_loss against epoch). logy: logarithmic
// y axis (non-positive values are then left out). .dat: one block per series, separated by two
// blank lines, columns "x y".
bool learning_curves(const std::string& dir, const std::string& name,
                     const std::vector<Series>& curves, const std::string& xlabel,
                     const std::string& ylabel, bool logy, std::string* why = nullptr);

// One histogram of `predictions` per true class, overlaid with transparent fill. All classes
// share `bins` equal bins spanning the finite predictions. true_class[i] in [0,
// class_names.size()). .dat: one line per bin, columns "bin_lo bin_hi center count_<class>...".
bool histogram_by_class(const std::string& dir, const std::string& name,
                        const std::vector<double>& predictions, const std::vector<int>& true_class,
                        const std::vector<std::string>& class_names, int bins,
                        const std::string& xlabel, std::string* why = nullptr);

// Predicted against true value with the line y = x, on equal square axes; `label` names the
// quantity (axis labels "true <label>" / "predicted <label>"). More than 20000 points are
// subsampled deterministically: every k-th point from the first, k = ceil(n / 20000).
// .dat: one line per plotted point, columns "true predicted".
bool scatter_with_identity(const std::string& dir, const std::string& name,
                           const std::vector<double>& truth, const std::vector<double>& predicted,
                           const std::string& label, std::string* why = nullptr);

constexpr size_t kMaxScatterPoints = 20000;

// Heat map of a K x K confusion matrix (rows = true class, top to bottom; columns = predicted
// class) with each cell's count printed in it. The colour is the cell's fraction of its row (the
// true class), so rare classes read as well as common ones. .dat: K lines of K counts.
bool confusion_matrix(const std::string& dir, const std::string& name,
                      const std::vector<std::vector<int64_t>>& counts,
                      const std::vector<std::string>& class_names, std::string* why = nullptr);

constexpr size_t kMaxTrajectoryPanels = 6;

// Up to kMaxTrajectoryPanels stacked panels (the first examples): the 1-D position over frames,
// with the true state per step as a coloured band below it and, if predicted_state is not empty,
// the predicted state as a second band. Step s spans frames [s, s+1]. States are coloured by id
// (negative ids are not drawn). true_state must have one entry per example, predicted_state
// one per example or none. .dat: one block per shown example, one line per frame or step
// (whichever is more, at least one), columns "example frame position true_state
// predicted_state" (-1 where there is none, NaN for a missing position).
bool example_trajectories(const std::string& dir, const std::string& name,
                          const std::vector<std::vector<double>>& positions,
                          const std::vector<std::vector<int>>& true_state,
                          const std::vector<std::vector<int>>& predicted_state,
                          std::string* why = nullptr);

// Figures of `sptrain fit`.

// One x-y track with the state of each of its segments (state.size() == x.size() - 1; a negative
// state is drawn grey).
struct StateTrack {
  std::vector<double> x, y;
  std::vector<int> state;
};
// Every track as line segments coloured by state, equal axes; state_names name states 0..K-1 in
// the key. .dat: one line per segment, columns "track x y x_next y_next state".
bool tracks_by_state(const std::string& dir, const std::string& name, const std::vector<StateTrack>& tracks,
                     const std::vector<std::string>& state_names, const std::string& xlabel,
                     const std::string& ylabel, const std::string& title, std::string* why = nullptr);

// A labelled vertical line at x.
struct Mark {
  std::string label;
  double x = 0;
};
// Histogram of the positive finite values on `bins` logarithmically spaced bins (log x axis),
// with the marks drawn as vertical lines. .dat: one line per bin, columns "bin_lo bin_hi center
// count", then the marks as comment lines "# mark <x> <label>".
bool log_histogram(const std::string& dir, const std::string& name, const std::vector<double>& values, int bins,
                   const std::vector<Mark>& marks, const std::string& xlabel, const std::string& title,
                   std::string* why = nullptr);

// Per state, the density histogram of observed dwell times (20 equal bins from 0 to the largest)
// with the exponential density k exp(-k t) of the fitted exit rate k = rate[state] overlaid; log y.
// .dat: one block per state, columns "bin_lo bin_hi center density count".
bool dwell_times(const std::string& dir, const std::string& name, const std::vector<std::vector<double>>& dwell,
                 const std::vector<double>& rate, const std::vector<std::string>& state_names,
                 const std::string& xlabel, const std::string& title, std::string* why = nullptr);

// Curves on log-log axes: `thin` ones in light grey (at most 200 drawn, all in the .dat), `bold`
// ones coloured and named in the key. Non-positive values are left out. .dat: one block per
// curve (thin first), columns "x y".
bool loglog_curves(const std::string& dir, const std::string& name, const std::vector<Series>& thin,
                   const std::vector<Series>& bold, const std::string& xlabel, const std::string& ylabel,
                   const std::string& title, std::string* why = nullptr);

}  // namespace sptrain::plots

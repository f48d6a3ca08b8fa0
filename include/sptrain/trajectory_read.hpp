// Reading trajectories users already have: the NPY (+ labels NPZ) and CSV files `sptrain simulate`
// writes, the CSV tables of trackpy, Spot-On, AnDi 2024 and TrackMate (spots table, with its unit
// rows), TrackMate XML (both layouts) and AnDi 2020 challenge files; docs/formats.md has the details.
//
//   sptrain::TrajectorySet t = sptrain::read_trajectories("tracks.csv", {.pixel_size = 0.16});
//   for (size_t i = 0; i < t.size(); ++i) use(t.ids[i], t.positions[i], t.length(i));
//
// Any problem with a file's content throws UsageError naming the file (and the line and column
// where there is one).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sptrain/io.hpp"

namespace sptrain {

struct TrajectorySet {
  std::string source;                          // the path as given
  int dims = 1;
  std::vector<int64_t> ids;                    // particle / track id per trajectory
  std::vector<std::vector<float>> positions;   // per trajectory: (length_i, dims) row-major
  std::vector<std::vector<int64_t>> frames;    // per trajectory: frame numbers, increasing
  std::vector<int64_t> first_line;             // per trajectory: file line of its first row (tables; empty for NPY)
  // Labels present in the file (empty vectors if absent). Otherwise one entry per trajectory.
  std::vector<float> sigma;                    // scaled by pixel_size like the positions
  std::vector<int32_t> n_switches;
  std::vector<uint8_t> has_switch;
  std::vector<std::vector<int>> step_state;    // per trajectory, length_i - 1
  std::vector<std::vector<float>> switch_times;  // per trajectory, in steps (no NaN padding)
  // Units. space_unit is the unit of `positions` (and of sigma): "um" when a pixel size was given
  // or the file states a length unit (converted to micrometres), else "px" (pixels, or whatever
  // unit the file was written in). frame_interval: seconds per frame from ReadOptions or the file
  // (TrackMate XML frameInterval, POSITION_T); 0 when unknown (rates are then per frame).
  std::string space_unit = "px";
  double frame_interval = 0;
  int64_t dropped_short = 0;           // trajectories left out as shorter than min_length (drop_short)
  std::vector<std::string> warnings;   // what the reader noticed and decided, e.g. all-zero z read as 2-D

  size_t size() const { return positions.size(); }
  int64_t length(size_t i) const { return int64_t(frames[i].size()); }
  // "sigma", "n_switches", "has_switch", "step_state", "switch_times"; false for any other name.
  bool has(const std::string& label) const;
};

struct ReadOptions {
  int64_t min_length = 2;     // a shorter trajectory is an error (or left out with drop_short)
  bool drop_short = false;    // leave out (and count) trajectories shorter than min_length
  double pixel_size = 0;      // micrometres per pixel: multiplies x, y, z (and sigma); 0: not given
  double frame_interval = 0;  // seconds per frame; 0: the file's own, or unknown
  bool allow_gaps = false;    // accept tracks that skip frames (frames then are not consecutive)
  // These options as commands that read tracked trajectories use them (fit, predict, Python):
  // gaps kept as gaps, tracks shorter than min_length left out and counted.
  ReadOptions as_tracks() const {
    ReadOptions o = *this;
    o.allow_gaps = true;
    o.drop_short = true;
    return o;
  }
};

// Reads trajectories from `path`, chosen by content (NPY magic, zip, text) and extension:
//  - NPY positions (N, L, D) or (N, L), float32/float64, with labels from "<stem>.labels.npz"
//    beside it when that exists (ids from its `index`, else 0..N-1; frames 0..L-1);
//  - a CSV/TSV/whitespace table with a header naming a track column (particle, TRACK_ID,
//    trajectory, traj_idx), frame (frame, FRAME), x (x, POSITION_X) and optionally y and z; sptrain's
//    own label columns sigma, n_switches, has_switch and state are read when present. Rows are
//    grouped by track id (trajectories in increasing id) and sorted by frame. TrackMate's unit rows
//    after the header are read for their units (POSITION_X's length unit, POSITION_T's time unit),
//    and rows whose track id is empty or "None" are skipped. A z column with one value in every row
//    is dropped (2-D, with a warning); a time column (POSITION_T, t) gives the frame interval;
//  - TrackMate XML (content starting with '<', or .xml): "Export tracks to XML" (<Tracks>) or the
//    model file (<TrackMate><Model>): units and frame interval from the file, linear tracks only;
//  - AnDi 2020 (no header, ';' separated, first field the dimension 1..3): one trajectory per line,
//    ids = the line's index, frames 0..L-1.
// Units: opts.pixel_size scales files without a length unit (and files in pixels) to micrometres;
// with a file that states a physical unit it is an error. opts.frame_interval wins over the file's
// (with a warning when they differ). Tracks shorter than min_length: an error, or with drop_short
// left out and counted in dropped_short. Gaps: an error unless allow_gaps.
// A table without a header (localizations: frame, x, y per row) is an error asking to link them.
TrajectorySet read_trajectories(const std::string& path, const ReadOptions& opts = {});
// The same from bytes in memory (for tests and fuzzing): NPY or a table, chosen by content and by
// the extension of `source` (the name errors give); no labels NPZ is looked for.
TrajectorySet parse_trajectories(std::string_view bytes, const std::string& source, const ReadOptions& opts = {});

}  // namespace sptrain

// Pieces the trajectory readers share (src/io/trajectory_read.cpp, src/io/trackmate_xml.cpp): units
// a file states, the scale from the file's positions to the set's, float32 positions, the frame
// interval from time stamps, and the last steps every reader takes (min_length, frame interval).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sptrain/trajectory_read.hpp"

namespace sptrain::read_detail {

// A length unit as a file states it: a physical one converts to micrometres (to_um > 0), pixels
// are pixels. `name` is the file's spelling (for messages).
struct LengthUnit {
  std::string name;
  double to_um = 0;     // micrometres per unit; 0 for pixels
  bool pixels = false;
};
// micron, microns, um, µm, μm, nm, mm (any case; surrounding blanks and parentheses ignored);
// pixel, pixels, px. false for anything else.
bool parse_length_unit(std::string_view s, LengthUnit& u);
// sec, s, second(s), ms, msec, min, minute(s) (to_s: seconds per unit, > 0); frame(s) (to_s = 0: time
// counted in frames). false for anything else.
bool parse_time_unit(std::string_view s, double& to_s);

// From the file's positions to the set's: pixel_size when given (an error when the file states a
// physical unit: the positions would be scaled twice), else the file's conversion to micrometres,
// else 1. Sets space_unit ("um" or "px"). file_unit: nullptr when the file states none.
struct Scale {
  double factor = 1;
  bool from_pixel_size = false;
};
Scale position_scale(const ReadOptions& opts, const LengthUnit* file_unit, const std::string& path,
                     std::string& space_unit);

// A position in float32 after scaling: finite as a double is not enough.
float position32(double v, const Scale& s, const std::string& where);

// Frame interval (seconds) from pairs of (time difference in seconds, frame difference > 0) taken
// along tracks: their median ratio. Ratios that differ from it by more than 1 % add a warning; no
// pairs, or a median <= 0, give 0 (unknown) with a warning. `what` names the time column.
double interval_from_times(std::vector<double>& ratios, const std::string& path, const std::string& what,
                           TrajectorySet& t);

// The last steps every reader takes: tracks shorter than opts.min_length are an error (the message
// names the file, the track and, where known, its first line) or, with drop_short, left out and
// counted; none left is an error. Then the frame interval: opts.frame_interval when given (a warning
// when the file states a different one), else `file_interval` (0: unknown).
void finish(TrajectorySet& t, const ReadOptions& opts, double file_interval, const std::string& interval_origin);

// Trajectory set from TrackMate XML: "Export tracks to XML" (<Tracks><particle><detection>) or the
// full model file (<TrackMate><Model><AllSpots>...<AllTracks>...). Positions scaled; min_length and
// frame interval are left to finish() (the returned interval is the file's, 0 when it has none).
TrajectorySet read_trackmate_xml(std::string_view bytes, const std::string& path, const ReadOptions& opts,
                                 double& file_interval, std::string& interval_origin);

std::string fmt_num(double v);  // shortest exact form
std::string fmt_g(double v);    // 6 significant digits, for what the reader reports
std::string plural(int64_t n, const char* word);

}  // namespace sptrain::read_detail

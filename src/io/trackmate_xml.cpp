// TrackMate XML, both layouts, read with expat (streaming; every message gives FILE:LINE:COLUMN):
//  - "Export tracks to XML": <Tracks spaceUnits=".." frameInterval=".." timeUnits=".."> holding
//    <particle> elements of <detection t="FRAME" x=".." y=".." z=".."/>;
//  - the model file TrackMate saves: <TrackMate><Model spatialunits=".." timeunits=".."> with
//    <AllSpots><SpotsInFrame><Spot ID FRAME POSITION_X ...>, <AllTracks><Track TRACK_ID><Edge
//    SPOT_SOURCE_ID SPOT_TARGET_ID>, optionally <FilteredTracks><TrackID TRACK_ID>, and after the
//    model <Settings><ImageData frameinterval>. A track is the spots its edges join; only linear
//    tracks are read (a spot with two successors or two predecessors is an error naming the track).
#include <expat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/trajectory_read_impl.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain::read_detail {

namespace {

struct Spot {
  int64_t id = 0, frame = 0, line = 0, col = 0;
  double pos[3] = {0, 0, 0};
  double time = 0;
  bool has_z = false, has_time = false;
  int64_t track = -1;  // model layout: the TRACK_ID it was claimed by
};

struct Track {
  int64_t id = 0, line = 0, col = 0, declared = -1;  // declared: particle nSpots (-1: not given)
  std::vector<Spot> spots;                              // Tracks layout
  struct Edge {
    int64_t source, target, line, col;
  };
  std::vector<Edge> edges;  // model layout
};

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& path, const ReadOptions& opts)
      : bytes_(bytes), path_(path), opts_(opts) {}

  TrajectorySet read(double& file_interval, std::string& interval_origin) {
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (!p) throw std::bad_alloc();
    parser_ = p;
    XML_SetUserData(p, this);
    XML_SetElementHandler(p, &Reader::on_start, &Reader::on_end);
    XML_SetEntityDeclHandler(p, &Reader::on_entity);
    // Expat's checks stay: malformed XML, and its limits on entity expansion.
    size_t off = 0;
    bool ok = true;
    do {
      const size_t chunk = std::min<size_t>(bytes_.size() - off, size_t(1) << 24);
      const bool last = off + chunk == bytes_.size();
      if (XML_Parse(p, bytes_.data() + off, int(chunk), last) != XML_STATUS_OK) {
        ok = false;
        break;
      }
      off += chunk;
    } while (off < bytes_.size());
    std::string msg;
    if (!ok && error_.empty())
      msg = path_ + ":" + std::to_string(XML_GetCurrentLineNumber(p)) + ":" +
            std::to_string(XML_GetCurrentColumnNumber(p) + 1) + ": " + XML_ErrorString(XML_GetErrorCode(p)) +
            " (not well-formed XML)";
    XML_ParserFree(p);
    parser_ = nullptr;
    if (!error_.empty()) throw UsageError(error_);
    if (!ok) throw UsageError(msg);
    if (layout_ == Layout::None) throw UsageError(path_ + ": empty XML document");
    TrajectorySet t = layout_ == Layout::Tracks ? assemble(tracks_) : assemble_model();
    if (image_interval_ > 0) {
      file_interval = image_interval_;
      interval_origin = interval_what_;
    } else {
      file_interval = interval_from_times(ratios_, path_, "POSITION_T", t);
      interval_origin = "POSITION_T of its spots";
    }
    return t;
  }

 private:
  enum class Layout { None, Tracks, Model };
  using Attrs = const XML_Char**;

  // ---- expat callbacks: no exception may cross expat's C frames, so each stores its message ----
  static void on_start(void* self, const XML_Char* name, Attrs atts) {
    auto* r = static_cast<Reader*>(self);
    if (!r->error_.empty()) return;  // expat may still call after XML_StopParser
    try {
      r->start(name, atts);
    } catch (const std::exception& e) {
      r->fail(e.what());
    }
  }
  static void on_end(void* self, const XML_Char*) {
    auto* r = static_cast<Reader*>(self);
    if (!r->stack_.empty()) r->stack_.pop_back();
    if (r->stack_.size() <= r->open_track_) r->open_track_ = kNone;
  }
  static void on_entity(void* self, const XML_Char*, int, const XML_Char*, int, const XML_Char*, const XML_Char*,
                        const XML_Char*, const XML_Char*) {
    auto* r = static_cast<Reader*>(self);
    r->fail(r->here() + "entity declarations are not read (TrackMate writes none)");
  }

  void fail(const std::string& msg) {
    if (error_.empty()) error_ = msg;
    XML_StopParser(parser_, XML_FALSE);
  }

  std::string here() const {
    return path_ + ":" + std::to_string(XML_GetCurrentLineNumber(parser_)) + ":" +
           std::to_string(XML_GetCurrentColumnNumber(parser_) + 1) + ": ";
  }

  static const char* attr(Attrs atts, const char* key) {
    for (size_t i = 0; atts[i]; i += 2)
      if (std::string_view(atts[i]) == key) return atts[i + 1];
    return nullptr;
  }

  std::string what(const std::string& element, const char* key) const { return "<" + element + "> " + key; }

  double number(Attrs atts, const std::string& element, const char* key, bool required, double fallback = 0) const {
    const char* v = attr(atts, key);
    if (!v) {
      if (required) throw UsageError(here() + "<" + element + "> has no attribute " + key);
      return fallback;
    }
    std::string_view s(v);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
      s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double d = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), d, std::chars_format::general);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(d))
      throw UsageError(here() + what(element, key) + "='" + io::quote_untrusted(v) + "' is not a finite number");
    return d;
  }

  int64_t integer(Attrs atts, const std::string& element, const char* key) const {
    const double d = number(atts, element, key, true);
    if (d != std::floor(d) || std::fabs(d) > 9.0e15)
      throw UsageError(here() + what(element, key) + "='" + io::quote_untrusted(attr(atts, key)) +
                       "' is not an integer");
    return int64_t(d);
  }

  bool in(const char* parent) const { return !stack_.empty() && stack_.back() == parent; }
  bool in(const char* parent, const char* grandparent) const {
    return stack_.size() >= 2 && stack_.back() == parent && stack_[stack_.size() - 2] == grandparent;
  }

  void length_unit(Attrs atts, const std::string& element, const char* key) {
    if (const char* u = attr(atts, key)) {
      if (!parse_length_unit(u, unit_))
        throw UsageError(here() + what(element, key) + "='" + io::quote_untrusted(u) +
                         "' is not a length unit sptrain reads (micron, um, nm, mm, pixel)");
      have_unit_ = true;
    }
    scale_ = position_scale(opts_, have_unit_ ? &unit_ : nullptr, path_, space_unit_);
  }

  void time_unit(Attrs atts, const std::string& element, const char* key) {
    if (const char* u = attr(atts, key)) {
      if (!parse_time_unit(u, to_s_))
        throw UsageError(here() + what(element, key) + "='" + io::quote_untrusted(u) +
                         "' is not a time unit sptrain reads (sec, ms, min, frame)");
      have_time_unit_ = true;
    }
  }

  void start(const std::string& name, Attrs atts) {
    const int64_t line = int64_t(XML_GetCurrentLineNumber(parser_)), col = int64_t(XML_GetCurrentColumnNumber(parser_)) + 1;
    if (layout_ == Layout::None) {
      if (name == "Tracks") {
        layout_ = Layout::Tracks;
        length_unit(atts, name, "spaceUnits");
        time_unit(atts, name, "timeUnits");
        const double fi = number(atts, name, "frameInterval", false, 0);
        if (fi < 0) throw UsageError(here() + "<Tracks> frameInterval is negative");
        if (fi > 0 && !have_time_unit_) {
          to_s_ = 1;
          warnings_.push_back(path_ + ": <Tracks> states no timeUnits: frameInterval taken as seconds");
        }
        image_interval_ = fi * to_s_;
        interval_what_ = "<Tracks> frameInterval";
      } else if (name == "TrackMate") {
        layout_ = Layout::Model;
      } else {
        throw UsageError(here() + "root element <" + io::quote_untrusted(name) +
                         "> is neither TrackMate's <Tracks> (Export tracks to XML) nor <TrackMate> (a TrackMate file)");
      }
      stack_.push_back(name);
      return;
    }
    if (layout_ == Layout::Tracks) {
      if (name == "particle" && in("Tracks")) {
        Track t;
        t.id = int64_t(tracks_.size());
        t.line = line;
        t.col = col;
        if (attr(atts, "nSpots")) t.declared = integer(atts, name, "nSpots");
        tracks_.push_back(std::move(t));
      } else if (name == "detection" && in("particle")) {
        Spot s;
        s.line = line;
        s.col = col;
        s.frame = integer(atts, name, "t");
        s.pos[0] = number(atts, name, "x", true);
        s.pos[1] = number(atts, name, "y", true);
        s.has_z = attr(atts, "z") != nullptr;
        if (s.has_z) s.pos[2] = number(atts, name, "z", true);
        tracks_.back().spots.push_back(s);
      } else if (name == "particle" || name == "detection") {
        throw UsageError(here() + "<" + name + "> outside " + (name == "particle" ? "<Tracks>" : "<particle>"));
      }
    } else {
      if (name == "Model" && in("TrackMate")) {
        if (model_seen_) throw UsageError(here() + "a second <Model>");
        model_seen_ = true;
        length_unit(atts, name, "spatialunits");
        time_unit(atts, name, "timeunits");
        if (!have_time_unit_) to_s_ = 1;
      } else if (name == "Spot" && in("SpotsInFrame")) {
        if (!model_seen_) throw UsageError(here() + "<Spot> outside <Model>");
        Spot s;
        s.line = line;
        s.col = col;
        s.id = integer(atts, name, "ID");
        s.frame = integer(atts, name, "FRAME");
        s.pos[0] = number(atts, name, "POSITION_X", true);
        s.pos[1] = number(atts, name, "POSITION_Y", true);
        s.has_z = attr(atts, "POSITION_Z") != nullptr;
        if (s.has_z) s.pos[2] = number(atts, name, "POSITION_Z", true);
        s.has_time = attr(atts, "POSITION_T") != nullptr;
        if (s.has_time) s.time = number(atts, name, "POSITION_T", true);
        auto [it, fresh] = spot_index_.emplace(s.id, spots_.size());
        if (!fresh) {
          const Spot& o = spots_[it->second];
          throw UsageError(here() + "spot ID " + std::to_string(s.id) + " appears twice (also line " +
                           std::to_string(o.line) + ")");
        }
        spots_.push_back(s);
      } else if (name == "Track" && in("AllTracks", "Model")) {
        Track t;
        t.id = integer(atts, name, "TRACK_ID");
        t.line = line;
        t.col = col;
        if (!track_ids_.insert(t.id).second)
          throw UsageError(here() + "TRACK_ID " + std::to_string(t.id) + " appears twice");
        tracks_.push_back(std::move(t));
        open_track_ = stack_.size();  // its place on the stack, pushed below
      } else if (name == "Edge" && open_track_ + 1 == stack_.size()) {  // in the <Track> just read
        tracks_.back().edges.push_back(
            {integer(atts, name, "SPOT_SOURCE_ID"), integer(atts, name, "SPOT_TARGET_ID"), line, col});
      } else if (name == "FilteredTracks" && in("Model")) {
        have_filtered_ = true;
      } else if (name == "TrackID" && in("FilteredTracks")) {
        filtered_.emplace(integer(atts, name, "TRACK_ID"), line);
      } else if (name == "ImageData" && in("Settings")) {
        const double fi = number(atts, name, "frameinterval", false, 0);
        if (fi < 0) throw UsageError(here() + "<ImageData> frameinterval is negative");
        image_interval_ = fi * to_s_;
        interval_what_ = "<ImageData> frameinterval";
      }
    }
    stack_.push_back(name);
  }

  // ---- tracks from the parsed elements ----

  std::string at(int64_t line, int64_t col) const {
    return path_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
  }

  TrajectorySet assemble_model() {
    if (!model_seen_) throw UsageError(path_ + ": no <Model> in this TrackMate file");
    for (const auto& [id, line] : filtered_)
      if (!track_ids_.count(id))
        throw UsageError(at(line, 1) + "<FilteredTracks> lists TRACK_ID " + std::to_string(id) +
                         ", which no <Track> has");
    std::vector<Track> kept;
    for (Track& tr : tracks_) {
      if (have_filtered_ && !filtered_.count(tr.id)) continue;
      const std::string track = "track " + std::to_string(tr.id);
      std::unordered_map<int64_t, int> succ, pred;
      std::set<int64_t> members;
      for (const Track::Edge& e : tr.edges) {
        const std::string where = at(e.line, e.col);
        auto find = [&](int64_t id) -> Spot& {
          auto it = spot_index_.find(id);
          if (it == spot_index_.end())
            throw UsageError(where + track + ": edge names spot ID " + std::to_string(id) + ", which <AllSpots> lacks");
          return spots_[it->second];
        };
        Spot* a = &find(e.source);
        Spot* b = &find(e.target);
        if (a->frame == b->frame)
          throw UsageError(where + track + ": edge joins spots " + std::to_string(a->id) + " and " +
                           std::to_string(b->id) + ", both in frame " + std::to_string(a->frame));
        if (a->frame > b->frame) std::swap(a, b);  // edges run forward in time
        for (Spot* s : {a, b}) {
          if (s->track >= 0 && s->track != tr.id)
            throw UsageError(where + track + ": spot " + std::to_string(s->id) + " is also in track " +
                             std::to_string(s->track));
          s->track = tr.id;
          members.insert(s->id);
        }
        if (++succ[a->id] > 1)
          throw UsageError(at(tr.line, tr.col) + track + " splits at spot " + std::to_string(a->id) + " (frame " +
                           std::to_string(a->frame) +
                           "): only linear tracks are read (in TrackMate's LAP tracker, leave splitting and merging off)");
        if (++pred[b->id] > 1)
          throw UsageError(at(tr.line, tr.col) + track + " merges at spot " + std::to_string(b->id) + " (frame " +
                           std::to_string(b->frame) +
                           "): only linear tracks are read (in TrackMate's LAP tracker, leave splitting and merging off)");
      }
      Track k;
      k.id = tr.id;
      k.line = tr.line;
      k.col = tr.col;
      for (int64_t id : members) k.spots.push_back(spots_[spot_index_[id]]);
      kept.push_back(std::move(k));
    }
    std::sort(kept.begin(), kept.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
    return assemble(kept);
  }

  TrajectorySet assemble(std::vector<Track>& tracks) {
    TrajectorySet t;
    t.source = path_;
    t.space_unit = space_unit_;
    t.warnings = warnings_;
    if (tracks.empty()) throw UsageError(path_ + ": no tracks in this TrackMate file");
    // 3-D when every spot has z, unless z is one value everywhere (TrackMate's 0 for 2-D images).
    bool all_z = true, any = false, constant = true;
    double z0 = 0;
    for (const Track& tr : tracks)
      for (const Spot& s : tr.spots) {
        all_z = all_z && s.has_z;
        if (!any) z0 = s.pos[2];
        any = true;
        constant = constant && s.pos[2] == z0;
      }
    int dims = 2;
    if (all_z && any) {
      if (constant)
        t.warnings.push_back(std::string(layout_ == Layout::Tracks ? "z" : "POSITION_Z") + " is " + fmt_num(z0) +
                             " everywhere: read as 2-D");
      else
        dims = 3;
    }
    t.dims = dims;
    bool all_time = layout_ == Layout::Model && to_s_ > 0;
    for (Track& tr : tracks) {
      const std::string track = "track " + std::to_string(tr.id);
      if (tr.declared >= 0 && tr.declared != int64_t(tr.spots.size()))
        throw UsageError(at(tr.line, tr.col) + "<particle> says nSpots=\"" + std::to_string(tr.declared) +
                         "\" but holds " + plural(int64_t(tr.spots.size()), "detection"));
      std::stable_sort(tr.spots.begin(), tr.spots.end(), [](const Spot& a, const Spot& b) { return a.frame < b.frame; });
      std::vector<float> pos(tr.spots.size() * size_t(dims));
      std::vector<int64_t> frames(tr.spots.size());
      for (size_t k = 0; k < tr.spots.size(); ++k) {
        const Spot& s = tr.spots[k];
        if (k > 0) {
          const Spot& p = tr.spots[k - 1];
          if (s.frame == p.frame)
            throw UsageError(at(s.line, s.col) + track + " has frame " + std::to_string(s.frame) + " twice (also line " +
                             std::to_string(p.line) + ")");
          if (s.frame != p.frame + 1 && !opts_.allow_gaps)
            throw UsageError(at(s.line, s.col) + track + " skips from frame " + std::to_string(p.frame) + " to " +
                             std::to_string(s.frame));
          all_time = all_time && s.has_time && p.has_time;
          if (all_time) ratios_.push_back((s.time - p.time) * to_s_ / double(s.frame - p.frame));
        }
        frames[k] = s.frame;
        static const char* const axes[2][3] = {{"x", "y", "z"}, {"POSITION_X", "POSITION_Y", "POSITION_Z"}};
        for (int d = 0; d < dims; ++d)
          pos[k * size_t(dims) + size_t(d)] =
              position32(s.pos[d], scale_, at(s.line, s.col) + axes[layout_ == Layout::Model][d]);
      }
      t.ids.push_back(tr.id);
      t.first_line.push_back(tr.line);
      t.positions.push_back(std::move(pos));
      t.frames.push_back(std::move(frames));
    }
    if (!all_time) ratios_.clear();
    return t;
  }

  std::string_view bytes_;
  std::string path_;
  ReadOptions opts_;
  XML_Parser parser_ = nullptr;
  std::string error_;
  Layout layout_ = Layout::None;
  std::vector<std::string> stack_;
  static constexpr size_t kNone = size_t(-1);
  size_t open_track_ = kNone;  // stack position of the <Track> whose <Edge>s are being read
  LengthUnit unit_;
  bool have_unit_ = false, have_time_unit_ = false, model_seen_ = false, have_filtered_ = false;
  double to_s_ = 0;
  Scale scale_;
  std::string space_unit_ = "px";
  double image_interval_ = 0;
  std::string interval_what_;
  std::vector<double> ratios_;
  std::vector<std::string> warnings_;
  std::vector<Track> tracks_;
  std::vector<Spot> spots_;
  std::unordered_map<int64_t, size_t> spot_index_;
  std::set<int64_t> track_ids_;
  std::map<int64_t, int64_t> filtered_;  // TRACK_ID -> line
};

}  // namespace

TrajectorySet read_trackmate_xml(std::string_view bytes, const std::string& path, const ReadOptions& opts,
                                 double& file_interval, std::string& interval_origin) {
  return Reader(bytes, path, opts).read(file_interval, interval_origin);
}

}  // namespace sptrain::read_detail

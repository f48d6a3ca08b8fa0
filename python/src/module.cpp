// sptrain._core: the nanobind extension under the Python package `sptrain` (python/sptrain/).
// It calls the library directly; the Python layer (python/sptrain/__init__.py) turns its results
// into NumPy arrays, pandas DataFrames and dicts. Every call that runs long releases the GIL;
// UsageError becomes ValueError with the same message.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include <Python.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sptrain/batch_stream.hpp"
#include "sptrain/checkpoint.hpp"
#include "sptrain/device.hpp"
#include "sptrain/device_batch.hpp"
#include "sptrain/error.hpp"
#include "sptrain/features.hpp"
#include "sptrain/fit.hpp"
#include "sptrain/onnx.hpp"
#include "sptrain/predict.hpp"
#include "sptrain/predictor.hpp"
#include "sptrain/run_dir.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"
#include "sptrain/trajectory_read.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// Addresses of the buffers handed to NumPy by the last simulate() call (tests check that the
// arrays NumPy sees start there, i.e. that nothing was copied).
std::vector<std::pair<std::string, std::uintptr_t>> g_last_buffers;

// A NumPy array over the buffer of `v`, which moves into a heap object owned by a capsule: the
// array keeps the library's buffer alive and no byte is copied.
template <class T>
nb::object give_to_numpy(std::vector<T>&& v, std::vector<size_t> shape, const char* name) {
  auto* owner = new std::vector<T>(std::move(v));
  nb::capsule cap(owner, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  g_last_buffers.emplace_back(name, reinterpret_cast<std::uintptr_t>(owner->data()));
  nb::ndarray<nb::numpy, T> a(owner->data(), shape.size(), shape.data(), cap);
  return a.cast();
}

nb::dict simulate_impl(const std::string& spec, bool is_path, const std::vector<std::string>& overrides, int64_t n,
                       uint64_t seed, int64_t first, const std::string& device, bool with_features) {
  std::optional<sptrain::SimSpec> s;
  sptrain::TrajectoryBatch b;
  std::vector<float> feats;
  int64_t T = 0, C = 0;
  std::string resolved;
  {
    nb::gil_scoped_release nogil;
    s.emplace(is_path ? sptrain::load_spec(spec, overrides) : sptrain::parse_spec(spec, overrides, "<string>"));
    if (n <= 0) throw sptrain::UsageError("n: " + std::to_string(n) + " is not positive (number of trajectories >= 1)");
    sptrain::check_trajectory_memory(s->params, double(n), "n");
    const sptrain::Device dev = sptrain::resolve_device(device, false);
    sptrain::simulate(s->params, seed, first, n, dev, b);
    if (with_features) {
      feats = sptrain::compute_features(s->features, b.positions.data(), b.n, s->params.length, s->params.dims, dev);
      T = sptrain::feature_length(s->features, s->params.length);
      C = sptrain::feature_channels(s->features, s->params.dims);
    }
    resolved = s->resolved.dump();
  }
  const auto& p = s->params;
  const size_t N = size_t(b.n), L = size_t(p.length), D = size_t(p.dims), S = size_t(p.steps());
  std::vector<uint8_t> has(N);
  std::vector<int64_t> index(N);
  for (size_t r = 0; r < N; ++r) {
    has[r] = b.n_switches[r] > 0;
    index[r] = b.first + int64_t(r);
  }
  g_last_buffers.clear();
  nb::dict out;
  out["positions"] = give_to_numpy(std::move(b.positions), {N, L, D}, "positions");
  out["index"] = give_to_numpy(std::move(index), {N}, "index");
  out["sigma"] = give_to_numpy(std::move(b.traj_sigma), {N}, "sigma");
  out["state_sigma"] = give_to_numpy(std::move(b.state_sigma), {N, size_t(p.n_states)}, "state_sigma");
  out["n_switches"] = give_to_numpy(std::move(b.n_switches), {N}, "n_switches");
  out["has_switch"] = give_to_numpy(std::move(has), {N}, "has_switch");
  out["switch_times"] = give_to_numpy(std::move(b.switch_times), {N, size_t(p.max_switch_times)}, "switch_times");
  out["initial_state"] = give_to_numpy(std::move(b.initial_state), {N}, "initial_state");
  out["step_state"] = give_to_numpy(std::move(b.step_state), {N, S}, "step_state");
  out["step_sigma"] = give_to_numpy(std::move(b.step_sigma), {N, S}, "step_sigma");
  out["localization"] = give_to_numpy(std::move(b.localization), {N}, "localization");
  out["exposure"] = give_to_numpy(std::move(b.exposure), {N}, "exposure");
  out["rate_factor"] = give_to_numpy(std::move(b.rate_factor), {N}, "rate_factor");
  if (with_features) out["features"] = give_to_numpy(std::move(feats), {N, size_t(T), size_t(C)}, "features");
  out["spec_json"] = resolved;
  return out;
}

// One array of a DeviceBatch as a DLPack producer: __dlpack__ hands out a fresh capsule over the
// library's buffer each call (a capsule is consumed once), owning the batch, so torch.from_dlpack,
// cupy.from_dlpack and numpy.from_dlpack (CPU) take it without a copy. The batch is complete
// before it is returned, so a consumer's stream needs no wait.
class PyDeviceArray {
 public:
  PyDeviceArray(std::shared_ptr<sptrain::DeviceBatch> d, size_t i) : d_(std::move(d)), i_(i) {}
  const sptrain::DeviceArray& array() const { return d_->arrays[i_]; }
  nb::object capsule() const {
    const sptrain::DeviceArray& a = array();
    const sptrain::Device dev = d_->backend->device();
    auto* keep = new std::shared_ptr<sptrain::DeviceBatch>(d_);
    nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<sptrain::DeviceBatch>*>(p); });
    std::vector<size_t> shape(a.shape.begin(), a.shape.end());
    return nb::ndarray<>(const_cast<void*>(a.data), shape.size(), shape.data(), owner, nullptr, dtype(), device().first,
                         device().second)
        .cast();
  }
  std::pair<int32_t, int32_t> device() const {
    const sptrain::Device dev = d_->backend->device();
    return dev.is_cuda() ? std::pair{int32_t(nb::device::cuda::value), int32_t(dev.ordinal)}
                         : std::pair{int32_t(nb::device::cpu::value), int32_t(0)};
  }
  nb::dlpack::dtype dtype() const {
    switch (array().type) {
      case sptrain::DeviceArray::Type::U8: return nb::dtype<uint8_t>();
      case sptrain::DeviceArray::Type::I32: return nb::dtype<int32_t>();
      case sptrain::DeviceArray::Type::F32: break;
    }
    return nb::dtype<float>();
  }
  std::string dtype_name() const {
    return array().type == sptrain::DeviceArray::Type::U8 ? "uint8"
           : array().type == sptrain::DeviceArray::Type::I32 ? "int32" : "float32";
  }

 private:
  std::shared_ptr<sptrain::DeviceBatch> d_;
  size_t i_;
};

// simulate() with the arrays left in the device's memory, as DLPack producers (PyDeviceArray).
nb::dict simulate_device_impl(const std::string& spec, bool is_path, const std::vector<std::string>& overrides,
                              int64_t n, uint64_t seed, int64_t first, const std::string& device, bool with_features) {
  std::shared_ptr<sptrain::DeviceBatch> d;
  std::string resolved;
  {
    nb::gil_scoped_release nogil;
    const sptrain::SimSpec s =
        is_path ? sptrain::load_spec(spec, overrides) : sptrain::parse_spec(spec, overrides, "<string>");
    d = std::make_shared<sptrain::DeviceBatch>(sptrain::simulate_to_device(
        s, seed, first, n, sptrain::resolve_device(device, false), with_features));
    resolved = s.resolved.dump();
  }
  g_last_buffers.clear();
  nb::dict out;
  for (size_t i = 0; i < d->arrays.size(); ++i) {
    g_last_buffers.emplace_back(d->arrays[i].name, reinterpret_cast<std::uintptr_t>(d->arrays[i].data));
    out[d->arrays[i].name.c_str()] = nb::cast(PyDeviceArray(d, i));
  }
  out["spec_json"] = resolved;
  return out;
}

sptrain::ReadOptions read_options(int64_t min_length, double pixel_size, double frame_interval) {
  sptrain::ReadOptions ro;
  ro.min_length = min_length;
  ro.pixel_size = pixel_size;
  ro.frame_interval = frame_interval;
  return ro.as_tracks();  // as the CLI's track options
}

sptrain::TrajectorySet read_set(const std::string& data, bool is_path, const std::string& source,
                                const sptrain::ReadOptions& ro) {
  return is_path ? sptrain::read_trajectories(data, ro) : sptrain::parse_trajectories(data, source, ro);
}

nb::dict read_impl(const std::string& data, bool is_path, const std::string& source, int64_t min_length,
                   double pixel_size, double frame_interval) {
  sptrain::TrajectorySet t;
  std::vector<int64_t> track, frame;
  std::vector<float> xyz;
  {
    nb::gil_scoped_release nogil;
    t = read_set(data, is_path, source, read_options(min_length, pixel_size, frame_interval));
    for (size_t i = 0; i < t.size(); ++i) {
      track.insert(track.end(), t.frames[i].size(), t.ids[i]);
      frame.insert(frame.end(), t.frames[i].begin(), t.frames[i].end());
      xyz.insert(xyz.end(), t.positions[i].begin(), t.positions[i].end());
    }
  }
  const size_t rows = track.size();
  nb::dict out;
  out["track"] = give_to_numpy(std::move(track), {rows}, "track");
  out["frame"] = give_to_numpy(std::move(frame), {rows}, "frame");
  out["positions"] = give_to_numpy(std::move(xyz), {rows, size_t(t.dims)}, "positions");
  out["dims"] = t.dims;
  out["space_unit"] = t.space_unit;
  out["frame_interval"] = t.frame_interval;
  out["dropped_short"] = t.dropped_short;
  out["warnings"] = t.warnings;
  out["source"] = t.source;
  return out;
}

nb::dict fit_impl(const std::string& data, bool is_path, const std::string& source, int64_t min_length,
                  double pixel_size, double frame_interval, int max_states, int states, double blur, int bootstrap,
                  uint64_t seed, double level) {
  std::string js, tracks, steps;
  {
    nb::gil_scoped_release nogil;
    if (max_states < 1 || max_states > 10) throw sptrain::UsageError("max_states: " + std::to_string(max_states) + " is not in 1..10");
    if (states < 0 || states > 10) throw sptrain::UsageError("states: " + std::to_string(states) + " is not in 1..10");
    if (!(blur >= 0 && blur <= 0.25)) throw sptrain::UsageError("blur: " + std::to_string(blur) + " is not in [0, 0.25]");
    if (bootstrap < 0 || bootstrap > 100000) throw sptrain::UsageError("bootstrap: " + std::to_string(bootstrap) + " is not in 0..100000");
    const sptrain::ReadOptions ro = read_options(min_length, pixel_size, frame_interval);
    const sptrain::TrajectorySet t = read_set(data, is_path, source, ro);
    sptrain::FitOptions fo;
    fo.max_states = max_states;
    fo.states = states;
    fo.blur = blur;
    fo.bootstrap = bootstrap;
    fo.seed = seed;
    fo.level = level;
    sptrain::FitResult r = sptrain::fit_tracks(t, fo);
    r.pixel_size = ro.pixel_size;  // as `sptrain fit` records it
    js = sptrain::fit_json(r).dump();
    tracks = sptrain::tracks_csv(r);
    steps = sptrain::steps_csv(r, t);
  }
  nb::dict out;
  out["fit_json"] = js;
  out["tracks_csv"] = tracks;
  out["steps_csv"] = steps;
  return out;
}

std::string predict_impl(const std::string& run_dir, const std::string& input, const std::string& out_dir,
                         int64_t min_length, double pixel_size, double frame_interval, const std::string& device,
                         const std::string& decode, double switch_penalty, const std::string& model_units, bool plots) {
  nb::gil_scoped_release nogil;
  sptrain::PredictRequest r;
  r.run_dir = run_dir;
  r.input = input;
  r.read = read_options(min_length, pixel_size, frame_interval);
  r.out_dir = out_dir;
  r.force = true;
  r.plots = plots;
  r.device = sptrain::resolve_device(device, false);
  r.decode = decode;
  r.switch_penalty = switch_penalty;
  r.model_units = model_units;
  r.quiet = true;
  nlohmann::json j = sptrain::run_predict(r);
  j.erase("tracks_table");
  return j.dump();
}

// The run's model on positions (n, L, D): its input features and its raw outputs (n, T_out, C_out),
// as the Predictor computes them for eval and predict.
nb::dict forward_impl(const std::string& run_dir, nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> pos,
                      const std::string& device) {
  const int64_t n = int64_t(pos.shape(0));
  const int L = int(pos.shape(1)), D = int(pos.shape(2));
  std::vector<float> x, y;
  sptrain::Shape in, os;
  {
    nb::gil_scoped_release nogil;
    const sptrain::TrainConfig cfg = sptrain::load_run_config(run_dir);
    if (D != cfg.spec.params.dims)
      throw sptrain::UsageError("positions: " + std::to_string(D) + "-D, the model of " + run_dir + " was trained in " +
                                std::to_string(cfg.spec.params.dims) + "-D");
    if (n < 1) throw sptrain::UsageError("positions: no trajectories");
    sptrain::Predictor m(cfg, run_dir, sptrain::resolve_device(device, false));
    y = m.forward(pos.data(), n, L);  // checks the length
    x = sptrain::compute_features(cfg.spec.features, pos.data(), n, L, D);
    in = {sptrain::feature_length(cfg.spec.features, L), sptrain::feature_channels(cfg.spec.features, D)};
    os = m.output_shape(L);
  }
  nb::dict out;
  out["input"] = give_to_numpy(std::move(x), {size_t(n), size_t(in.T), size_t(in.C)}, "input");
  out["output"] = give_to_numpy(std::move(y), {size_t(n), size_t(os.T), size_t(os.C)}, "output");
  return out;
}

std::string export_onnx_impl(const std::string& run_dir, const std::string& path, bool force) {
  nb::gil_scoped_release nogil;
  sptrain::onnx::ExportRequest r;
  r.run_dir = run_dir;
  r.onnx = path;
  r.force = force;
  return sptrain::onnx::export_onnx(r).dump();
}

nb::dict checkpoint_impl(const std::string& path) {
  sptrain::ckpt::Checkpoint c;
  {
    nb::gil_scoped_release nogil;
    c = sptrain::ckpt::load(path);
  }
  nb::dict tensors;
  for (auto& t : c.tensors) {
    std::vector<size_t> shape(t.shape.begin(), t.shape.end());
    auto make = [&]<class T>(T) {
      std::vector<T> v(t.bytes.size() / sizeof(T));
      if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
      return give_to_numpy(std::move(v), shape, "tensor");
    };
    switch (t.dtype) {
      case sptrain::io::DType::F32: tensors[t.name.c_str()] = make(float{}); break;
      case sptrain::io::DType::F64: tensors[t.name.c_str()] = make(double{}); break;
      case sptrain::io::DType::I32: tensors[t.name.c_str()] = make(int32_t{}); break;
      case sptrain::io::DType::I64: tensors[t.name.c_str()] = make(int64_t{}); break;
      case sptrain::io::DType::U8: tensors[t.name.c_str()] = make(uint8_t{}); break;
      case sptrain::io::DType::I8: tensors[t.name.c_str()] = make(int8_t{}); break;
    }
  }
  nb::dict meta;
  for (auto& [k, v] : c.metadata) meta[k.c_str()] = v;
  nb::dict out;
  out["tensors"] = tensors;
  out["metadata"] = meta;
  return out;
}

// Runs the trainer. Progress lines go to stderr as with the CLI. Ctrl-C: the stop callback, polled
// at every step boundary, takes the GIL and asks Python whether a signal arrived; the trainer then
// writes a resumable last.safetensors and returns, and KeyboardInterrupt is raised here.
std::string train_impl(const std::string& config, const std::string& run_dir, const std::vector<std::string>& overrides,
                       bool resume, const std::string& device, const std::string& precision, int64_t max_epochs,
                       bool force, bool progress) {
  bool interrupted = false;
  std::string res;
  {
    nb::gil_scoped_release nogil;
    sptrain::TrainOptions opt;
    opt.progress = progress;
    opt.max_epochs = max_epochs;
    opt.math = sptrain::parse_math_mode(precision);
    if (max_epochs < -1) throw sptrain::UsageError("max_epochs " + std::to_string(max_epochs) + ": must be 0 or more");
    sptrain::TrainConfig cfg;
    std::optional<sptrain::RunDir> run;
    if (resume) {
      if (!overrides.empty()) throw sptrain::UsageError("resume: the run's own config is used; drop the overrides");
      run.emplace(sptrain::RunDir::open(run_dir));
      cfg = sptrain::load_run_config(run_dir);
      opt.resume = true;
    } else {
      cfg = sptrain::load_train_config(config, overrides);
      const auto inputs = sptrain::RunInputs::read(config, cfg.resolved["data"]["spec"].get<std::string>(), overrides);
      run.emplace(sptrain::RunDir::create(run_dir, inputs, force));
    }
    opt.run_dir = run->path();
    const sptrain::Device dev = sptrain::resolve_training_device(device);
    opt.stop = [&interrupted] {
      nb::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) {
        PyErr_Clear();
        interrupted = true;
      }
      return interrupted;
    };
    res = sptrain::train(cfg, dev, opt).dump();
  }
  if (interrupted) {
    PyErr_SetString(PyExc_KeyboardInterrupt, ("interrupted: resumable checkpoint in " + run_dir +
                                              "/last.safetensors; continue with train(None, run_dir, resume=True)").c_str());
    throw nb::python_error();
  }
  return res;
}

// The stream behind sptrain.torch.Batches: batch k as two arrays over the stream's device buffers
// (no copy), each owning the batch through a capsule. framework "torch" gives torch tensors (CPU or
// CUDA, through DLPack), "numpy" NumPy arrays (CPU only).
class PyBatchStream {
 public:
  PyBatchStream(const std::string& spec, bool is_path, const std::vector<std::string>& overrides,
                const std::string& label, int64_t batch, uint64_t seed, int64_t first, const std::string& device) {
    nb::gil_scoped_release nogil;
    const sptrain::SimSpec s =
        is_path ? sptrain::load_spec(spec, overrides) : sptrain::parse_spec(spec, overrides, "<string>");
    stream_ = std::make_unique<sptrain::BatchStream>(s, sptrain::parse_label(label), batch, seed, first,
                                                     sptrain::resolve_device(device, false));
  }

  nb::tuple next(int64_t k, const std::string& framework) {
    const bool torch = framework == "torch";
    if (!torch && framework != "numpy") throw sptrain::UsageError("framework: '" + framework + "' is not torch or numpy");
    if (!torch && stream_->device().is_cuda())
      throw sptrain::UsageError("framework: numpy arrays live on the host; a CUDA stream gives torch tensors");
    std::shared_ptr<sptrain::BatchStream::Batch> b;
    {
      nb::gil_scoped_release nogil;
      b = std::make_shared<sptrain::BatchStream::Batch>(stream_->next(k));
    }
    const size_t B = size_t(stream_->batch());
    return nb::make_tuple(wrap(b, b->x.get(), {B, size_t(stream_->length()), size_t(stream_->channels())}, torch),
                          wrap(b, b->y.get(), {B, size_t(stream_->target_steps()), size_t(stream_->outputs())}, torch));
  }

  int64_t batch() const { return stream_->batch(); }
  std::vector<int64_t> shapes() const {
    return {stream_->length(), stream_->channels(), stream_->target_steps(), stream_->outputs()};
  }
  std::string device() const { return stream_->device().str(); }

 private:
  nb::object wrap(const std::shared_ptr<sptrain::BatchStream::Batch>& b, float* data, std::vector<size_t> shape,
                  bool torch) const {
    auto* keep = new std::shared_ptr<sptrain::BatchStream::Batch>(b);
    nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<sptrain::BatchStream::Batch>*>(p); });
    const sptrain::Device d = stream_->device();
    const int32_t dev_type = d.is_cuda() ? nb::device::cuda::value : nb::device::cpu::value;
    const int32_t dev_id = d.is_cuda() ? d.ordinal : 0;
    if (torch)
      return nb::ndarray<nb::pytorch, float>(data, shape.size(), shape.data(), owner, nullptr, nb::dtype<float>(),
                                             dev_type, dev_id)
          .cast();
    return nb::ndarray<nb::numpy, float>(data, shape.size(), shape.data(), owner).cast();
  }
  std::unique_ptr<sptrain::BatchStream> stream_;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "sptrain's C++ library (internal; use the functions of the sptrain package)";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const sptrain::UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sptrain::OutOfDeviceMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  m.def("simulate", &simulate_impl, "spec"_a, "is_path"_a, "overrides"_a, "n"_a, "seed"_a, "first"_a, "device"_a,
        "features"_a);
  nb::class_<PyDeviceArray>(m, "DeviceArray")
      .def("__dlpack__", [](const PyDeviceArray& a, nb::kwargs) { return a.capsule(); })
      .def("__dlpack_device__", &PyDeviceArray::device)
      .def_prop_ro("shape", [](const PyDeviceArray& a) { return a.array().shape; })
      .def_prop_ro("dtype", &PyDeviceArray::dtype_name)
      .def("__repr__", [](const PyDeviceArray& a) {
        std::string s = "sptrain DeviceArray " + a.array().name + " " + a.dtype_name() + " (";
        for (size_t k = 0; k < a.array().shape.size(); ++k) s += (k ? ", " : "") + std::to_string(a.array().shape[k]);
        return s + ") on " + (a.device().first == nb::device::cuda::value ? "cuda:" + std::to_string(a.device().second) : "cpu");
      });
  m.def("simulate_device", &simulate_device_impl, "spec"_a, "is_path"_a, "overrides"_a, "n"_a, "seed"_a, "first"_a,
        "device"_a, "features"_a);
  m.def("read", &read_impl, "data"_a, "is_path"_a, "source"_a, "min_length"_a, "pixel_size"_a, "frame_interval"_a);
  m.def("fit", &fit_impl, "data"_a, "is_path"_a, "source"_a, "min_length"_a, "pixel_size"_a, "frame_interval"_a,
        "max_states"_a, "states"_a, "blur"_a, "bootstrap"_a, "seed"_a, "level"_a);
  m.def("predict", &predict_impl, "run_dir"_a, "input"_a, "out_dir"_a, "min_length"_a, "pixel_size"_a,
        "frame_interval"_a, "device"_a, "decode"_a, "switch_penalty"_a, "model_units"_a, "plots"_a);
  m.def("forward", &forward_impl, "run_dir"_a, "positions"_a, "device"_a);
  m.def("export_onnx", &export_onnx_impl, "run_dir"_a, "path"_a, "force"_a);
  m.def("load_checkpoint", &checkpoint_impl, "path"_a);
  m.def("train", &train_impl, "config"_a, "run_dir"_a, "overrides"_a, "resume"_a, "device"_a, "precision"_a,
        "max_epochs"_a, "force"_a, "progress"_a);
  m.def("built_with_cuda", &sptrain::built_with_cuda);
  nb::class_<PyBatchStream>(m, "BatchStream")
      .def(nb::init<const std::string&, bool, const std::vector<std::string>&, const std::string&, int64_t, uint64_t,
                    int64_t, const std::string&>(),
           "spec"_a, "is_path"_a, "overrides"_a, "label"_a, "batch"_a, "seed"_a, "first"_a, "device"_a)
      .def("next", &PyBatchStream::next, "step"_a, "framework"_a)
      .def_prop_ro("batch", &PyBatchStream::batch)
      .def_prop_ro("shapes", &PyBatchStream::shapes)
      .def_prop_ro("device", &PyBatchStream::device);
  m.def("_last_buffers", [] {
    nb::dict d;
    for (auto& [k, v] : g_last_buffers) d[k.c_str()] = v;
    return d;
  });
}

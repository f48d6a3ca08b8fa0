"""sptrain from Python: simulation, fitting, prediction and training over sptrain's C++ library.

    import sptrain
    sim = sptrain.simulate("experiments/report-3.2.toml", n=1000, seed=7)
    tracks, steps, pooled = sptrain.fit(df, pixel_size=0.16, frame_interval=0.02)

Every function calls the same library as the `sptrain` command line, so results equal the CLI's
for the same inputs. Bad input raises ValueError with the CLI's message. docs/python.md has a
walk-through.
"""
from __future__ import annotations

import io as _io
import json as _json
import math as _math
import os as _os
import tempfile as _tempfile
import tomllib as _tomllib
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as _np

from . import _core

if TYPE_CHECKING:  # pandas is imported where it is used, so that `import sptrain` does not need it
    import pandas as pd

__all__ = ["simulate", "read_tracks", "fit", "predict", "Run", "train", "load_checkpoint", "built_with_cuda",
           "to_toml"]
__version__ = "0.1.0"


def built_with_cuda() -> bool:
    """Whether the extension was built with the CUDA backend."""
    return bool(_core.built_with_cuda())


# ---------------------------------------------------------------- specs

def _toml_value(v: Any, key: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, _np.integer)):
        return str(int(v))
    if isinstance(v, (float, _np.floating)):
        f = float(v)
        if _math.isnan(f):
            return "nan"
        if _math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return _json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple, _np.ndarray)):
        return "[" + ", ".join(_toml_value(x, key) for x in v) + "]"
    raise TypeError(f"{key}: a {type(v).__name__} has no TOML form (use numbers, strings, booleans, lists, dicts)")


def to_toml(d: Mapping[str, Any]) -> str:
    """TOML text of a nested dict ({"states": {"sigma": [1.0, 3.0]}, ...}): tables for dicts."""
    if not isinstance(d, Mapping):
        raise TypeError(f"spec: expected a dict, got {type(d).__name__}")
    lines: list[str] = []

    def table(prefix: str, t: Mapping[str, Any]) -> None:
        subs = []
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in t.items():
            if not isinstance(k, str):
                raise TypeError(f"spec: key {k!r} is not a string")
            if isinstance(v, Mapping):
                subs.append((k, v))
            else:
                lines.append(f"{_json.dumps(k)} = {_toml_value(v, (prefix + '.' if prefix else '') + k)}")
        for k, v in subs:
            table((prefix + "." if prefix else "") + _json.dumps(k), v)

    table("", d)
    return "\n".join(lines) + "\n"


def _spec_source(spec: Any) -> tuple[str, bool, bool]:
    """(text or path, is_path, has a [features] table) of a spec given as path, TOML text or dict."""
    if isinstance(spec, Mapping):
        return to_toml(spec), False, "features" in spec
    if isinstance(spec, _os.PathLike):
        spec = _os.fspath(spec)
    if not isinstance(spec, str):
        raise TypeError(f"spec: expected a TOML path, TOML text or a dict, got {type(spec).__name__}")
    is_path = "\n" not in spec and "=" not in spec
    text = spec
    if is_path:
        try:
            text = _Path(spec).read_text()
        except OSError:
            text = ""  # the library names the problem
    try:
        has_features = "features" in _tomllib.loads(text)
    except _tomllib.TOMLDecodeError:
        has_features = False  # the library reports the syntax error with its position
    return spec, is_path, has_features


def simulate(spec: Any, n: int, seed: int = 0, first_index: int = 0, device: str = "auto",
             overrides: Sequence[str] | Mapping[str, Any] = (), features: bool | None = None,
             arrays: str = "numpy") -> dict[str, Any]:
    """Simulates trajectories first_index .. first_index + n - 1 of `spec` with `seed`.

    Returns a dict of NumPy arrays that own the library's buffers (no copy): positions (n, L, D)
    float32, step_state (n, L-1) uint8 (the labels), step_sigma, sigma, state_sigma, n_switches,
    has_switch, switch_times, initial_state, index; localization, exposure and rate_factor (n)
    float32, the noise std, exposure fraction and switching-rate factor each trajectory was made with
    (drawn from the spec's ranges, else its fixed values: 0, 0, 1 when absent); and features (n, T, C)
    float32 when the spec has a [features] table (or features=True); "spec" is the resolved spec
    (every key with its value).
    The arrays hold the same bytes as `sptrain simulate --out x.npy` (and its labels NPZ).

    arrays="dlpack" leaves the arrays in the device's memory (GPU memory with device="cuda"): each
    value is an array object exporting DLPack (__dlpack__, __dlpack_device__) over the library's
    buffer, taken without a copy by torch.from_dlpack, cupy.from_dlpack or numpy.from_dlpack (CPU).
    It holds the same arrays but has_switch (n_switches > 0) and index (first_index + arange(n)).
    """
    if arrays not in ("numpy", "dlpack"):
        raise ValueError(f"arrays: {arrays!r} is not 'numpy' or 'dlpack'")
    text, is_path, has_features = _spec_source(spec)
    if isinstance(overrides, Mapping):
        overrides = [f"{k}={_toml_value(v, k)}" for k, v in overrides.items()]
    n, seed, first_index = _int(n, "n"), _int(seed, "seed"), _int(first_index, "first_index")
    if seed < 0 or seed >= 2**64:
        raise ValueError(f"seed: {seed} is not in 0 to 2^64-1")
    want = has_features if features is None else bool(features)
    call = _core.simulate if arrays == "numpy" else _core.simulate_device
    out = call(text, is_path, list(overrides), n, seed, first_index, str(device), want)
    out["spec"] = _json.loads(out.pop("spec_json"))
    return out


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, _np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__}")
    return int(v)


def _num(v: Any, name: str) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, (int, float, _np.integer, _np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(v).__name__}")
    f = float(v)
    if not (f >= 0 and _math.isfinite(f)):
        raise ValueError(f"{name}: {f} is not a non-negative finite number")
    return f


# ---------------------------------------------------------------- tracks

_TRACK_COLUMNS = ("particle", "track", "TRACK_ID", "trajectory", "traj_idx")


def tracks_to_csv(df: Any) -> str:
    """CSV text (particle, frame, x, y[, z]) of a trackpy-style DataFrame, as the library reads it.

    The track column may be called particle (trackpy), track, TRACK_ID, trajectory or traj_idx;
    frame and x are required, y and z optional. Other columns are ignored.
    """
    import pandas as pd
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"tracks: expected a pandas DataFrame or a path, got {type(df).__name__}")
    tcol = next((c for c in _TRACK_COLUMNS if c in df.columns), None)
    if tcol is None:
        raise ValueError("tracks: the DataFrame has no track column (particle, track, TRACK_ID, trajectory or traj_idx); "
                         "link the localizations first (e.g. trackpy.link)")
    for c in ("frame", "x"):
        if c not in df.columns:
            raise ValueError(f"tracks: the DataFrame has no '{c}' column")
    cols = [tcol, "frame"] + [c for c in ("x", "y", "z") if c in df.columns]
    out = df[cols].rename(columns={tcol: "particle"})
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])):
            raise TypeError(f"tracks: column '{c}' has dtype {out[c].dtype}, expected numbers")
    return out.to_csv(index=False, float_format="%.17g")


def _tracks_input(data: Any) -> tuple[str, bool, str]:
    if isinstance(data, (str, _os.PathLike)):
        p = _os.fspath(data)
        return p, True, p
    return tracks_to_csv(data), False, "<DataFrame>.csv"


def read_tracks(path: Any, pixel_size: float | None = None, frame_interval: float | None = None,
                min_length: int = 2) -> pd.DataFrame:
    """Reads tracks (any format `sptrain fit` reads, or a DataFrame) into a DataFrame track, frame, x, y[, z].

    Positions are in df.attrs["space_unit"] ("um" with a pixel size or a file that states its unit,
    else "px"); df.attrs also holds frame_interval (s, 0 = unknown), dropped_short (tracks shorter
    than min_length, left out), warnings and source.
    """
    import pandas as pd
    data, is_path, source = _tracks_input(path)
    r = _core.read(data, is_path, source, _int(min_length, "min_length"), _num(pixel_size, "pixel_size"),
                   _num(frame_interval, "frame_interval"))
    pos = r["positions"]
    cols = {"track": r["track"], "frame": r["frame"]}
    for d, name in enumerate("xyz"[: r["dims"]]):
        cols[name] = pos[:, d]
    df = pd.DataFrame(cols)
    df.attrs.update(space_unit=r["space_unit"], frame_interval=r["frame_interval"], dropped_short=r["dropped_short"],
                    warnings=list(r["warnings"]), source=r["source"])
    return df


def fit(tracks: Any, pixel_size: float | None = None, frame_interval: float | None = None, max_states: int = 4,
        states: int | None = None, bootstrap: int = 200, seed: int = 0, min_length: int = 2, blur: float = 0.0,
        level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """`sptrain fit` on a trackpy-style DataFrame (particle, frame, x, y[, z]) or a file of tracks.

    Returns (tracks, steps, pooled): tracks.csv and steps.csv of `sptrain fit` as DataFrames (one row
    per track: D by MLE and CVE with intervals, noise, alpha, states; one row per displacement: the
    decoded state and state probabilities) and fit.json's content as a dict (per state D,
    occupancy, rates and dwell times with intervals; units in its keys and in pooled["units"]).
    """
    import pandas as pd
    data, is_path, source = _tracks_input(tracks)
    if seed < 0 or seed >= 2**64:
        raise ValueError(f"seed: {seed} is not in 0 to 2^64-1")
    r = _core.fit(data, is_path, source, _int(min_length, "min_length"), _num(pixel_size, "pixel_size"),
                  _num(frame_interval, "frame_interval"), _int(max_states, "max_states"),
                  0 if states is None else _int(states, "states"), _num(blur, "blur"), _int(bootstrap, "bootstrap"),
                  _int(seed, "seed"), float(level))
    return (pd.read_csv(_io.StringIO(r["tracks_csv"])), pd.read_csv(_io.StringIO(r["steps_csv"])),
            _json.loads(r["fit_json"]))


def predict(run_dir: Any, tracks: Any, pixel_size: float | None = None, frame_interval: float | None = None,
            min_length: int = 2, device: str = "auto", decode: str = "auto", switch_penalty: float = 0.0,
            model_units: str = "input",
            out_dir: Any = None) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """`sptrain predict --run run_dir` on a DataFrame (particle, frame, x, y[, z]) or a file of tracks.

    Returns (tracks, steps, result): tracks.csv and steps.csv as DataFrames (steps is None for a
    fixed-length model, whose windows.csv is then result["windows"]) and predict.json as a dict.
    With out_dir the CLI's files (and figures) are also kept there.
    """
    import pandas as pd
    with _tempfile.TemporaryDirectory(prefix="sptrain-predict-") as tmp:
        if isinstance(tracks, (str, _os.PathLike)):
            inp = _os.fspath(tracks)
        else:
            inp = _os.path.join(tmp, "tracks.csv")
            with open(inp, "w") as f:
                f.write(tracks_to_csv(tracks))
        od = _os.fspath(out_dir) if out_dir is not None else _os.path.join(tmp, "out")
        j = _json.loads(_core.predict(_os.fspath(run_dir), inp, od, _int(min_length, "min_length"),
                                      _num(pixel_size, "pixel_size"), _num(frame_interval, "frame_interval"),
                                      str(device), str(decode), _num(switch_penalty, "switch_penalty"),
                                      str(model_units), out_dir is not None))
        tr = pd.read_csv(_os.path.join(od, "tracks.csv"))
        st_path = _os.path.join(od, "steps.csv")
        st = pd.read_csv(st_path) if _os.path.exists(st_path) else None
        w_path = _os.path.join(od, "windows.csv")
        if _os.path.exists(w_path):
            j["windows"] = pd.read_csv(w_path)
    return tr, st, j


# ---------------------------------------------------------------- runs

def load_checkpoint(path: Any) -> dict[str, _np.ndarray]:
    """The tensors of an sptrain checkpoint (.safetensors, checksum verified) as NumPy arrays."""
    return dict(_core.load_checkpoint(_os.fspath(path))["tensors"])


class Run:
    """A run directory written by `sptrain train` (or sptrain.train).

    Attributes: path; config_text, spec_text (the TOML the run was made from); overrides (list).
    Properties: config (config.json), results (results.json, {} while running), metrics (metrics.csv
    as a DataFrame). Methods: checkpoint(name="best") -> dict of NumPy arrays; forward(positions)
    -> the model's input features and raw outputs; export_onnx(path) -> the model as an ONNX file.
    """

    def __init__(self, path: Any):
        self.path = _Path(path)
        if not self.path.is_dir():
            raise ValueError(f"{self.path}: not a directory")
        if not (self.path / "config.toml").exists():
            raise ValueError(f"{self.path}: not a run directory (no config.toml)")
        self.config_text = (self.path / "config.toml").read_text()
        spec = self.path / "spec.toml"
        self.spec_text = spec.read_text() if spec.exists() else ""
        ov = self.path / "overrides.txt"
        self.overrides = [l for l in ov.read_text().splitlines() if l.strip()] if ov.exists() else []

    def __repr__(self) -> str:
        return f"sptrain.Run({str(self.path)!r})"

    @property
    def config(self) -> dict:
        p = self.path / "config.json"
        return _json.loads(p.read_text()) if p.exists() else {}

    @property
    def results(self) -> dict:
        p = self.path / "results.json"
        return _json.loads(p.read_text()) if p.exists() else {}

    @property
    def metrics(self) -> pd.DataFrame:
        import pandas as pd
        p = self.path / "metrics.csv"
        return pd.read_csv(p) if p.exists() and p.stat().st_size > 0 else pd.DataFrame()

    def checkpoint(self, name: str = "best") -> dict[str, _np.ndarray]:
        """Tensors of best.safetensors (name="best", falling back to last) or last.safetensors."""
        p = self.path / f"{name}.safetensors"
        if name == "best" and not p.exists():
            p = self.path / "last.safetensors"
        return load_checkpoint(p)

    def forward(self, positions: Any, device: str = "auto") -> dict[str, _np.ndarray]:
        """The model on positions (n, L, D) (float32; L the trained length, or any length the model
        runs at): {"input": the features it reads (n, T, C), "output": its raw outputs (n, T_out,
        C_out), before any softmax or decoding}, from the checkpoint `sptrain predict` uses."""
        pos = _np.ascontiguousarray(positions, dtype=_np.float32)
        if pos.ndim != 3:
            raise ValueError(f"positions: expected (n, L, D), got shape {pos.shape}")
        return dict(_core.forward(str(self.path), pos, str(device)))

    def export_onnx(self, path: Any, force: bool = False) -> dict:
        """`sptrain export --run self.path --onnx path`: the model as an ONNX file (atomically).

        Returns the file's "sptrain" metadata (input features and shape, output and what it holds,
        the run's spec and config) plus bytes, nodes and seconds. docs/export.md describes it.
        """
        return _json.loads(_core.export_onnx(str(self.path), _os.fspath(path), bool(force)))


def train(config: Any, run_dir: Any, overrides: Mapping[str, Any] | Sequence[str] = (), device: str = "auto",
          precision: str = "fp32", max_epochs: int | None = None, force: bool = False, progress: bool = True,
          resume: bool = False) -> dict:
    """`sptrain train --config config --run-dir run_dir --set k=v ...`: trains and returns results.json.

    overrides: {"train.lr": 1e-4, ...} or ["train.lr=1e-4", ...]. Progress goes to stderr. Ctrl-C
    stops at the next step boundary with a resumable checkpoint and raises KeyboardInterrupt;
    train(None, run_dir, resume=True) continues. The GIL is released while training.
    """
    if isinstance(overrides, Mapping):
        overrides = [f"{k}={v if isinstance(v, str) else _toml_value(v, k)}" for k, v in overrides.items()]
    if not resume and config is None:
        raise ValueError("train: give a config (TOML path) or resume=True")
    res = _core.train("" if config is None else _os.fspath(config), _os.fspath(run_dir), list(overrides), bool(resume),
                      str(device), str(precision), -1 if max_epochs is None else _int(max_epochs, "max_epochs"),
                      bool(force), bool(progress))
    return _json.loads(res)

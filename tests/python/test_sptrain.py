import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import sptrain

from conftest import ROOT, SPEC_TEXT

ROOT_BROAD = ROOT / "experiments/broad-2state-2d.toml"


# The second spec draws noise, exposure and rate factor per trajectory (the labels hold the draws).
@pytest.mark.parametrize("name", ["report-3.2-text.toml", "broad-2state-2d.toml"])
def test_simulate_equals_cli_bytes(tmp_path, root, cli, name):
    spec = root / "experiments" / name
    s = sptrain.simulate(spec, 64, seed=11, first_index=5)
    out = tmp_path / "x.npy"
    subprocess.run([cli, "simulate", "--spec", str(spec), "--n", "64", "--seed", "11", "--first-index", "5",
                    "--out", str(out)], check=True, capture_output=True)
    ref = np.load(out)
    assert ref.dtype == s["positions"].dtype and ref.shape == s["positions"].shape
    assert ref.tobytes() == s["positions"].tobytes()
    lab = np.load(tmp_path / "x.labels.npz")
    for k in ["index", "sigma", "state_sigma", "n_switches", "has_switch", "initial_state", "step_state", "step_sigma",
              "localization", "exposure", "rate_factor"]:
        assert lab[k].tobytes() == s[k].tobytes(), k
    assert np.array_equal(lab["switch_times"], s["switch_times"], equal_nan=True)


def test_cli_csv_holds_the_drawn_parameters(tmp_path, root, cli):
    # broad-2state-2d draws localization, exposure and rate factor per trajectory.
    spec = root / "experiments" / "broad-2state-2d.toml"
    s = sptrain.simulate(spec, 16, seed=2, first_index=3)
    out = tmp_path / "x.csv"
    subprocess.run([cli, "simulate", "--spec", str(spec), "--n", "16", "--seed", "2", "--first-index", "3",
                    "--out", str(out)], check=True, capture_output=True)
    df = pd.read_csv(out)
    assert list(df.columns) == ["particle", "frame", "x", "y", "state", "step_sigma", "sigma", "n_switches",
                                "has_switch", "localization", "exposure", "rate_factor"]
    assert len(df) == 16 * s["positions"].shape[1]  # every position of every track
    for k in ["sigma", "localization", "exposure", "rate_factor"]:
        per_track = df.groupby("particle")[k]
        assert (per_track.nunique() == 1).all(), k  # one value on every row of a track
        first = per_track.first()
        assert list(first.index) == list(s["index"])
        # Nine significant digits give back the float32 values exactly.
        assert np.array_equal(first.to_numpy(np.float32), s[k]), k
        # Continuous draws of a broad prior are all distinct (a float32 collision among 16 has
        # probability below 1e-4).
        assert first.nunique() == 16, k
    assert np.array_equal(df["x"].to_numpy(np.float32), s["positions"][..., 0].ravel())
    # The package's reader takes the file (the extra columns are ignored), positions as written.
    t = sptrain.read_tracks(out)
    assert list(t.columns) == ["track", "frame", "x", "y"]
    assert np.array_equal(t["track"].to_numpy(), df["particle"].to_numpy())
    assert np.array_equal(t["y"].to_numpy(), s["positions"][..., 1].ravel())


def test_simulate_zero_copy():
    s = sptrain.simulate(SPEC_TEXT, 10, seed=1)
    addr = sptrain._core._last_buffers()
    for k in ["positions", "step_state", "features"]:
        assert s[k].ctypes.data == addr[k], k  # NumPy's data pointer is the library's buffer
        assert not s[k].flags.owndata
    assert s["positions"].shape == (10, 50, 2) and s["positions"].dtype == np.float32
    assert s["features"].shape == (10, 49, 2)
    assert np.allclose(s["features"], np.diff(s["positions"], axis=1), atol=1e-5)


def test_simulate_dict_string_path_agree(tmp_path):
    d = {"length": 50, "dims": 2, "states": {"D": [0.25, 2.0]},
         "switching": {"model": "poisson", "rate": 0.05}, "features": {"kind": "displacements"}}
    p = tmp_path / "s.toml"
    p.write_text(SPEC_TEXT)
    a = sptrain.simulate(d, 8, seed=4)["positions"]
    b = sptrain.simulate(SPEC_TEXT, 8, seed=4)["positions"]
    c = sptrain.simulate(p, 8, seed=4)["positions"]
    assert a.tobytes() == b.tobytes() == c.tobytes()
    # trajectory i is a function of (seed, i): a later window equals the tail of a longer call
    e = sptrain.simulate(d, 4, seed=4, first_index=4)["positions"]
    assert e.tobytes() == a[4:].tobytes()


def test_bad_input_raises():
    with pytest.raises(ValueError, match="switching.rate"):
        sptrain.simulate(SPEC_TEXT.replace("rate = 0.05", "rate = -1"), 4)
    with pytest.raises(ValueError, match="not positive"):
        sptrain.simulate(SPEC_TEXT, 0)
    with pytest.raises(TypeError):
        sptrain.simulate(SPEC_TEXT, 2.5)
    with pytest.raises(TypeError):
        sptrain.simulate(42, 4)
    with pytest.raises(ValueError, match="cannot open"):
        sptrain.simulate("/nonexistent/spec.toml", 4)
    with pytest.raises(ValueError, match="track column"):
        sptrain.fit(pd.DataFrame({"frame": [0, 1], "x": [0.0, 1.0]}))
    with pytest.raises(TypeError, match="dtype"):
        sptrain.fit(pd.DataFrame({"particle": [0, 0], "frame": [0, 1], "x": ["a", "b"]}))
    with pytest.raises(ValueError):
        sptrain.Run("/nonexistent/run")


def _tracks_df(n_tracks=12, length=50, seed=3):
    s = sptrain.simulate(SPEC_TEXT, n_tracks, seed=seed)
    pos = s["positions"].astype(np.float64)
    rows = []
    for i in range(n_tracks):
        for j in range(length):
            if j == 20 and i % 3 == 0:
                continue  # a gap: frame 20 missing
            rows.append((i, j, pos[i, j, 0], pos[i, j, 1]))
    return pd.DataFrame(rows, columns=["particle", "frame", "x", "y"])


def test_read_tracks_units():
    df = _tracks_df()
    t = sptrain.read_tracks(df, pixel_size=0.1, frame_interval=0.02)
    assert list(t.columns) == ["track", "frame", "x", "y"]
    assert t.attrs["space_unit"] == "um" and t.attrs["frame_interval"] == 0.02
    assert len(t) == len(df)
    assert np.allclose(t["x"].to_numpy(), 0.1 * df["x"].to_numpy(), rtol=1e-6, atol=1e-6)


def test_fit_equals_cli(tmp_path, cli):
    df = _tracks_df()
    tracks, steps, pooled = sptrain.fit(df, pixel_size=0.1, frame_interval=0.02, max_states=3, bootstrap=20, seed=5)
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False, float_format="%.17g")
    out = tmp_path / "fit"
    subprocess.run([cli, "fit", "--input", str(csv), "--pixel-size", "0.1", "--frame-interval", "0.02",
                    "--max-states", "3", "--bootstrap", "20", "--seed", "5", "--no-plots", "--out-dir", str(out)],
                   check=True, capture_output=True)
    ref = json.loads((out / "fit.json").read_text())
    ref.pop("source", None), pooled.pop("source", None)
    assert pooled == ref
    pd.testing.assert_frame_equal(tracks, pd.read_csv(out / "tracks.csv"))
    pd.testing.assert_frame_equal(steps, pd.read_csv(out / "steps.csv"))
    assert pooled["n_tracks"] == 12 and pooled["n_gaps"] == 4 and "D_mle_um2_per_s" in tracks.columns


def test_checkpoint_and_run(root):
    run = root / "models/broad-2state-2d"
    if not run.is_dir():
        pytest.skip("no shipped model")
    r = sptrain.Run(run)
    assert "[" in r.config_text
    t = r.checkpoint()
    assert t and all(isinstance(v, np.ndarray) for v in t.values())


def test_predict_equals_cli(tmp_path, root, cli):
    run = root / "models/broad-2state-2d"
    if not run.is_dir():
        pytest.skip("no shipped model")
    df = _tracks_df(n_tracks=4)
    tracks, steps, res = sptrain.predict(run, df, device="cpu")
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False, float_format="%.17g")
    out = tmp_path / "pred"
    subprocess.run([cli, "predict", "--run", str(run), "--input", str(csv), "--device", "cpu", "--no-plots",
                    "--out-dir", str(out)], check=True, capture_output=True)
    pd.testing.assert_frame_equal(tracks, pd.read_csv(out / "tracks.csv"))
    if steps is not None:
        pd.testing.assert_frame_equal(steps, pd.read_csv(out / "steps.csv"))


def test_train_and_run(tmp_path, root):
    cfg = root / "experiments/train-3.2.toml"
    res = sptrain.train(cfg, tmp_path / "run", overrides={"train.epochs": 1, "train.steps_per_epoch": 2,
                        "data.val_size": 64, "data.test_size": 64}, device="cpu", progress=False)
    r = sptrain.Run(tmp_path / "run")
    assert r.results == res
    assert len(r.metrics) >= 1
    assert r.checkpoint("last")
    with pytest.raises(ValueError, match="no_such_key"):
        sptrain.train(cfg, tmp_path / "run2", overrides=["train.no_such_key=1"], progress=False)


def test_simulate_dlpack_arrays_are_the_librarys_buffers():
    ref = sptrain.simulate(SPEC_TEXT, 12, seed=5, first_index=3, device="cpu")
    d = sptrain.simulate(SPEC_TEXT, 12, seed=5, first_index=3, device="cpu", arrays="dlpack")
    addr = sptrain._core._last_buffers()
    assert set(d) == set(ref) - {"has_switch", "index"}
    for k in ["positions", "step_state", "n_switches", "switch_times", "features", "localization"]:
        a = np.from_dlpack(d[k])  # no copy: NumPy's view starts at the library's buffer
        assert a.__array_interface__["data"][0] == addr[k], k
        assert a.dtype == ref[k].dtype and a.shape == ref[k].shape, k
        assert np.array_equal(a, ref[k], equal_nan=True), k
    assert d["positions"].__dlpack_device__() == (1, 0)  # kDLCPU, device 0
    with pytest.raises(ValueError, match="arrays: 'torch' is not"):
        sptrain.simulate(SPEC_TEXT, 2, arrays="torch")
    with pytest.raises(ValueError, match="n: 0 is not positive"):
        sptrain.simulate(SPEC_TEXT, 0, device="cpu", arrays="dlpack")


def test_ctrl_c_stops_train_with_a_resumable_checkpoint(tmp_path, root):
    """SIGINT to a Python process inside sptrain.train: KeyboardInterrupt at the next step boundary,
    last.safetensors written, and train(None, run_dir, resume=True) continues from it."""
    import signal
    import sys
    import time
    run = tmp_path / "run"
    code = (f"import sptrain\nsptrain.train({str(root / 'experiments/train-3.2.toml')!r}, {str(run)!r}, "
            "overrides={'train.epochs': 100000, 'train.steps_per_epoch': 20, 'data.val_size': 64, "
            "'data.test_size': 64}, device='cpu')\n")
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr is not None
        for line in p.stderr:  # the trainer's progress: wait for the first finished epoch
            if line.startswith("epoch "):
                break
        p.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        err = p.stderr.read()
        p.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err and "resumable checkpoint" in err, err[-2000:]
    assert took < 30, took  # epochs of 20 steps of a 100-parameter model: one step is milliseconds
    def last_step() -> int:
        return int(sptrain._core.load_checkpoint(str(run / "last.safetensors"))["metadata"]["step"])
    step = last_step()
    assert step >= 20
    sptrain.train(None, run, resume=True, max_epochs=step // 20 + 1, progress=False)
    assert last_step() > step


def test_long_calls_release_the_gil():
    """Another Python thread runs while sptrain.simulate works: the longest pause between its loop
    iterations during the call is a small part of the call (holding the GIL would stall it for all)."""
    import threading
    import time
    stamps: list[float] = []
    done = threading.Event()

    def spin():
        while not done.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    try:
        t0 = time.monotonic()
        sptrain.simulate(ROOT_BROAD, 12000, seed=1, device="cpu")
        t1 = time.monotonic()
    finally:
        done.set()
        th.join()
    inside = [t for t in stamps if t0 <= t <= t1]
    assert t1 - t0 > 0.2, t1 - t0  # long enough to tell
    edges = [t0] + inside + [t1]
    longest = max(b - a for a, b in zip(edges, edges[1:]))
    assert longest < 0.25 * (t1 - t0), (longest, t1 - t0)

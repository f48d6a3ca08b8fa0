"""ONNX export: exported models run in onnxruntime and give sptrain's outputs on 1,000 simulated
trajectories, for the shipped models and for small runs of the presets trained here.

Tolerance: |onnx - sptrain| <= RTOL * (|sptrain| + scale), scale the largest |output| of the batch.
Both sides compute the same float32 graph; they differ only in the order of the sums (im2col + BLAS
here, onnxruntime's own kernels there) and in a few library functions (expm1 vs exp - 1, log1p),
each a few float32 roundings (eps = 6e-8) per layer. Through up to ten layers with sums of up to a
few thousand terms that stays near 1e-6 of the output's scale; RTOL = 1e-4 leaves two orders of
magnitude of room while catching any real mistake (a wrong tap, pad, layout or statistic moves
outputs by far more).
"""
import json
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import sptrain

RTOL = 1e-4
N = 1000

# Three steps on fresh data, for the small models below.
TRAINING = """
[data]
spec = "spec.toml"
label = "has_switch"
val_size = 64
test_size = 64
[train]
batch = 64
steps_per_epoch = 3
epochs = 1
lr = 1e-2
"""

# A model using every layer type and activation, with BatchNorm (fast-moving statistics, so the
# running mean and variance are far from their initial 0 and 1), dilation, strides and each padding.
MIXED_CONFIG = TRAINING + """[layer.a]
type = "conv1d"
inputs = ["input"]
filters = 6
kernel = 3
dilation = 2
padding = "causal"
activation = "elu"
[layer.bn]
type = "batchnorm"
inputs = ["a"]
momentum = 0.2
[layer.b]
type = "conv1d"
inputs = ["bn"]
filters = 5
kernel = 4
stride = 2
padding = "same"
activation = "leaky_relu"
[layer.c]
type = "conv1d"
inputs = ["bn"]
filters = 5
kernel = 5
dilation = 3
padding = "valid"
activation = "tanh"
[layer.pb]
type = "maxpool1d"
inputs = ["b"]
pool = 3
stride = 2
[layer.pc]
type = "maxpool1d"
inputs = ["c"]
pool = 2
[layer.cat]
type = "concatenate"
inputs = ["pb", "pc"]
axis = "time"
[layer.r]
type = "reshape"
inputs = ["cat"]
shape = [5, 31]
[layer.s]
type = "dense"
inputs = ["r"]
units = 4
activation = "sigmoid"
[layer.sp]
type = "activation"
inputs = ["s"]
activation = "softplus"
[layer.lg]
type = "activation"
inputs = ["sp"]
activation = "log"
[layer.sq]
type = "activation"
inputs = ["lg"]
activation = "sqrt"
[layer.g]
type = "global_maxpool1d"
inputs = ["sq"]
[layer.f]
type = "flatten"
inputs = ["r"]
[layer.h]
type = "dense"
inputs = ["f"]
units = 3
activation = "relu"
[layer.j]
type = "concatenate"
inputs = ["g", "h"]
[layer.out]
type = "dense"
inputs = ["j"]
units = 2
[layer.p]
type = "softmax"
inputs = ["out"]
"""
# Any length: a strided 'same' convolution pads by the length (the odd step on the right).
ANY_LENGTH_CONFIG = TRAINING + """[layer.a]
type = "conv1d"
inputs = ["input"]
filters = 4
kernel = 4
stride = 2
padding = "same"
activation = "relu"
[layer.bn]
type = "batchnorm"
inputs = ["a"]
momentum = 0.2
[layer.g]
type = "global_maxpool1d"
inputs = ["bn"]
[layer.out]
type = "dense"
inputs = ["g"]
units = 2
"""
MIXED_SPEC = """
length = 51
dims = 2
[states]
D = [0.5, 4.0]
[switching]
model = "single"
[features]
kind = "displacements"
"""


def _positions(run, length, extra, seed=3):
    ov = dict(extra) if length is None else {"length": length, **extra}
    return sptrain.simulate(run.spec_text, N, seed=seed, overrides=ov)["positions"]


def _check(run, path, lengths, spec_overrides=()):
    """Exports run to path, checks the file, and compares onnxruntime's outputs with sptrain's at
    each length; returns the largest absolute and relative differences."""
    meta = run.export_onnx(path, force=True)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["sptrain"])["input"] == meta["input"]
    assert model.opset_import[0].version == 17
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"] and [o.name for o in sess.get_outputs()] == ["output"]
    worst = (0.0, 0.0)
    for length in lengths:
        f = run.forward(_positions(run, length, dict(spec_overrides)), device="cpu")
        x, ref = f["input"], f["output"]
        assert x.shape[1:] == tuple(meta["input"]["shape"][1:]) or meta["input"]["shape"][1] == "T"
        got = sess.run(None, {"input": x})[0]
        assert got.shape == ref.shape
        assert np.all(np.isfinite(ref))
        scale = float(np.abs(ref).max())
        diff = np.abs(got.astype(np.float64) - ref)
        assert np.all(diff <= RTOL * (np.abs(ref) + scale)), (length, float(diff.max()), scale)
        worst = (max(worst[0], float(diff.max())), max(worst[1], float(diff.max()) / max(scale, 1e-30)))
    print(f"{path.parent.name}: {meta['bytes']} bytes, max abs diff {worst[0]:.3g}, relative to the output scale "
          f"{worst[1]:.3g}")
    return meta, worst


@pytest.mark.parametrize("name,lengths", [("broad-2state-2d", [200, 57]), ("report-3.2-better", [None]),
                                          ("report-3.4.1-segnet", [300, 600]), ("report-3.4.3-windows", [None])])
def test_shipped_models(tmp_path, root, name, lengths):
    run_dir = root / "models" / name
    if not run_dir.is_dir():
        pytest.skip("no shipped model")
    meta, _ = _check(sptrain.Run(run_dir), tmp_path / "m.onnx", lengths)
    assert meta["input"]["positions"]["any_length"] == (lengths[0] is not None)


def _train(tmp_path, config, overrides):
    sptrain.train(config, tmp_path / "run", overrides=overrides, device="cpu", progress=False)
    return sptrain.Run(tmp_path / "run")


def test_model1_preset(tmp_path, root):
    """train-3.2 (the report's model 1: valid convolutions, pooling, concatenation along time,
    flatten, dense): a fixed-length model."""
    run = _train(tmp_path, root / "experiments/train-3.2.toml",
                 {"train.epochs": 1, "train.steps_per_epoch": 2, "data.val_size": 64, "data.test_size": 64})
    meta, _ = _check(run, tmp_path / "m.onnx", [None])
    assert meta["input"]["shape"] == ["N", 100, 1] and meta["output"]["shape"] == ["N", 1, 1]


def test_model2_preset_with_batchnorm(tmp_path, root):
    """train-3.4.3-report (the report's model 2: causal dilated convolutions each followed by
    BatchNorm, a kernel-20 'same' branch, global max pooling, dense layers): runs at any length."""
    run = _train(tmp_path, root / "experiments/train-3.4.3-report.toml",
                 {"train.epochs": 1, "train.steps_per_epoch": 2, "train.batch": 32, "data.val_size": 32,
                  "data.test_size": 32, "data.set": ["length=100", "switching.time=30"]})
    meta, _ = _check(run, tmp_path / "m.onnx", [100, 64], {"switching.time": 30})
    assert meta["input"]["shape"][1] == "T" and meta["output"]["shape"] == ["N", 1, 2]


def test_every_layer_type(tmp_path):
    (tmp_path / "spec.toml").write_text(MIXED_SPEC)
    (tmp_path / "c.toml").write_text(MIXED_CONFIG)
    run = _train(tmp_path, tmp_path / "c.toml", {})
    st = run.checkpoint()["state"]
    C = 6
    assert np.abs(st[:C]).max() > 0.05 and np.abs(st[C:] - 1).max() > 0.05  # the statistics moved
    meta, _ = _check(run, tmp_path / "m.onnx", [None])
    assert meta["output"]["what"].startswith("class probabilities")


def test_any_length_strided_same(tmp_path):
    (tmp_path / "spec.toml").write_text(MIXED_SPEC)
    (tmp_path / "c.toml").write_text(ANY_LENGTH_CONFIG)
    run = _train(tmp_path, tmp_path / "c.toml", {})
    meta, _ = _check(run, tmp_path / "m.onnx", [51, 40])  # 50 and 39 displacements
    assert meta["input"]["shape"] == ["N", "T", 2] and meta["output"]["shape"] == ["N", 1, 2]
    assert meta["output"]["what"].startswith("class logits")


def test_cli_writes_the_same_bytes(tmp_path, root, cli):
    run_dir = root / "models/broad-2state-2d"
    if not run_dir.is_dir():
        pytest.skip("no shipped model")
    sptrain.Run(run_dir).export_onnx(tmp_path / "a.onnx")
    r = subprocess.run([cli, "export", "--run", str(run_dir), "--onnx", str(tmp_path / "b.onnx")], check=True,
                       capture_output=True, text=True)
    assert "input  input [\"N\",\"T\",3]" in r.stdout, r.stdout  # three feature channels
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    r = subprocess.run([cli, "export", "--run", str(run_dir), "--onnx", str(tmp_path / "b.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "exists" in r.stderr


def test_forward_checks_its_input(root):
    broad, fixed = root / "models/broad-2state-2d", root / "models/report-3.2-better"
    if not (broad.is_dir() and fixed.is_dir()):
        pytest.skip("no shipped model")
    with pytest.raises(ValueError, match="trained in 2-D"):
        sptrain.Run(broad).forward(np.zeros((4, 50, 3), np.float32))
    with pytest.raises(ValueError, match="exactly 100 positions, not 60"):
        sptrain.Run(fixed).forward(np.zeros((4, 60, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(n, L, D\)"):
        sptrain.Run(fixed).forward(np.zeros((100, 1), np.float32))

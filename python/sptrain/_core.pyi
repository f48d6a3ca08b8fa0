"""Type stubs of sptrain's extension module (internal: the functions of `sptrain` wrap these).

tests/python/test_stubs.py checks these signatures against the ones nanobind compiled into the
extension; the types here may refine the extension's (dict[str, Any] for its dict).
"""
from collections.abc import Sequence
from typing import Any

import numpy
from numpy.typing import NDArray

def simulate(spec: str, is_path: bool, overrides: Sequence[str], n: int, seed: int, first: int, device: str,
             features: bool) -> dict[str, Any]:
    """Arrays of trajectories first..first+n-1 (owning the library's buffers) and "spec_json"."""
class DeviceArray:
    """One array of a batch in a device's memory, a DLPack producer (no constructor)."""
    def __dlpack__(self, **kwargs: Any) -> Any:
        """A fresh DLPack capsule over the library's buffer (the keywords of the protocol are accepted)."""
    def __dlpack_device__(self) -> tuple[int, int]: ...
    @property
    def shape(self) -> list[int]: ...
    @property
    def dtype(self) -> str: ...
    def __repr__(self) -> str: ...
def simulate_device(spec: str, is_path: bool, overrides: Sequence[str], n: int, seed: int, first: int, device: str,
                    features: bool) -> dict[str, Any]:
    """The arrays of simulate() left in the device's memory, each a DeviceArray, and "spec_json"."""
def read(data: str, is_path: bool, source: str, min_length: int, pixel_size: float,
         frame_interval: float) -> dict[str, Any]:
    """track, frame, positions arrays and the units of a track file (or CSV text)."""
def fit(data: str, is_path: bool, source: str, min_length: int, pixel_size: float, frame_interval: float,
        max_states: int, states: int, blur: float, bootstrap: int, seed: int, level: float) -> dict[str, str]:
    """fit.json, tracks.csv and steps.csv of `sptrain fit` as text."""
def predict(run_dir: str, input: str, out_dir: str, min_length: int, pixel_size: float, frame_interval: float,
            device: str, decode: str, switch_penalty: float, model_units: str, plots: bool) -> str:
    """Runs `sptrain predict` into out_dir; returns predict.json's text."""
def forward(run_dir: str, positions: NDArray[numpy.float32], device: str) -> dict[str, Any]:
    """{"input": features (n, T, C), "output": the model's outputs (n, T_out, C_out)} for positions (n, L, D)
    (float32, C-contiguous, on the host)."""
def export_onnx(run_dir: str, path: str, force: bool) -> str:
    """Writes the run's model as ONNX; returns the JSON of its "sptrain" metadata plus bytes, nodes, seconds."""
def load_checkpoint(path: str) -> dict[str, Any]:
    """{"tensors": {name: ndarray}, "metadata": {key: str}} of a verified checkpoint."""
def train(config: str, run_dir: str, overrides: Sequence[str], resume: bool, device: str, precision: str,
          max_epochs: int, force: bool, progress: bool) -> str:
    """Trains; returns results.json's text. Raises KeyboardInterrupt after a Ctrl-C (checkpoint kept)."""
def built_with_cuda() -> bool: ...
class BatchStream:
    """The batches behind sptrain.torch.Batches: (input, target) of step k, over the stream's buffers."""
    def __init__(self, spec: str, is_path: bool, overrides: Sequence[str], label: str, batch: int, seed: int, first: int,
                 device: str) -> None: ...
    def next(self, step: int, framework: str) -> tuple[Any, Any]: ...
    @property
    def batch(self) -> int: ...
    @property
    def shapes(self) -> list[int]: ...
    @property
    def device(self) -> str: ...
def _last_buffers() -> dict[str, int]:
    """Data addresses of the buffers the last call handed to NumPy (for the zero-copy test)."""

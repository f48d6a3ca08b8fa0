"""sptrain's trajectory generator as a PyTorch data source.

    import torch, sptrain.torch
    data = sptrain.torch.Batches("experiments/broad-2state-2d.toml", batch=4096, seed=1, device="cuda")
    for step, (x, y) in zip(range(1000), data):   # x (4096, T, C), y (4096, steps, states)
        loss = torch.nn.functional.cross_entropy(net(x.transpose(1, 2)), y.transpose(1, 2))

Batches are made by the same C++ batch source `sptrain train` uses: on a GPU the trajectories are
simulated, turned into features and labelled in device memory and handed to PyTorch without a
copy (DLPack); on the CPU they are made on the host. The generator is counter-based: batch k holds
trajectories first_index + k*batch ... first_index + (k+1)*batch - 1 of the seed, whatever process
makes it, so DataLoader workers and distributed ranks split the batches among them and never
repeat a trajectory. docs/python.md has a walk-through.
"""
from __future__ import annotations

import itertools as _itertools
from typing import Any, Iterator, Mapping, Sequence

import torch as _torch
from torch.utils.data import IterableDataset as _IterableDataset
from torch.utils.data import get_worker_info as _get_worker_info

from . import _core, _int, _spec_source, _toml_value

__all__ = ["Batches"]


def _world() -> tuple[int, int]:
    """(rank, world size) of torch.distributed when it is initialized, else (0, 1)."""
    dist = getattr(_torch, "distributed", None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Batches(_IterableDataset):
    """An iterable of (features, targets) float32 tensors from `spec`, made on `device`.

    spec: a data spec (TOML path, TOML text or dict, as for sptrain.simulate); its [features]
      table chooses the features (docs/spec.md).
    batch: trajectories per batch; seed: the data seed (as data.seed of a training config).
    device: "cuda", "cuda:N" or "cpu" ("auto": a GPU when there is one).
    label: the training target, one of sigma, n_switches, n_switches_plus_one, switch_time,
      has_switch, initial_state, step_state (data.label of a training config, docs/train.md).
    steps: batches to yield (None: without end); start: the first batch index k;
      first_index: the trajectory index batch 0 starts at.
    rank, world_size: this process's share of the batches (default: torch.distributed's, if
      initialized, else 0 and 1).

    Yields x of shape (batch, T, C) (time rows, feature channels: transpose to (batch, C, T) for
    torch.nn.Conv1d) and y of shape (batch, target_steps, outputs): one row per trajectory (one
    per step for step_state) holding the value for regression labels and one-hot class
    probabilities for has_switch, initial_state and step_state, exactly as `sptrain train` builds
    its targets. Worker w of W (DataLoader) on rank r of R yields the batches
    k = start + r*W + w, start + r*W + w + R*W, ...: each batch index goes to exactly one
    worker of one rank. Use num_workers=0 on a GPU (the batch is made on the device, and CUDA
    does not survive a fork); with workers on the CPU each worker makes its own batches.
    """

    def __init__(self, spec: Any, batch: int, seed: int = 0, device: str = "cuda", label: str = "step_state",
                 steps: int | None = None, start: int = 0, first_index: int = 0,
                 overrides: Sequence[str] | Mapping[str, Any] = (), rank: int | None = None,
                 world_size: int | None = None) -> None:
        super().__init__()
        self._text, self._is_path, _ = _spec_source(spec)
        if isinstance(overrides, Mapping):
            overrides = [f"{k}={_toml_value(v, k)}" for k, v in overrides.items()]
        self._overrides = list(overrides)
        self.batch = _int(batch, "batch")
        self.seed = _int(seed, "seed")
        if self.seed < 0 or self.seed >= 2**64:
            raise ValueError(f"seed: {self.seed} is not in 0 to 2^64-1")
        self.device = str(device)
        self.label = str(label)
        self.steps = None if steps is None else _int(steps, "steps")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps: {self.steps} is negative (batches to yield, or None for no end)")
        self.start = _int(start, "start")
        if self.start < 0:
            raise ValueError(f"start: {self.start} is negative (the first batch index)")
        self.first_index = _int(first_index, "first_index")
        r, w = _world()
        self.rank = r if rank is None else _int(rank, "rank")
        self.world_size = w if world_size is None else _int(world_size, "world_size")
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} of world_size {self.world_size}: need 0 <= rank < world_size")
        # Opened now to check the arguments; DataLoader workers open their own.
        self._stream: _core.BatchStream | None = self._open()

    def _open(self) -> _core.BatchStream:
        return _core.BatchStream(self._text, self._is_path, self._overrides, self.label, self.batch, self.seed,
                                 self.first_index, self.device)

    def __getstate__(self) -> dict:  # DataLoader workers: everything but the C++ stream
        state = dict(self.__dict__)
        state["_stream"] = None
        return state

    def shapes(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """((batch, T, C), (batch, target_steps, outputs)) of every batch."""
        t, c, s, o = self._stream_or_open().shapes
        return (self.batch, t, c), (self.batch, s, o)

    def _stream_or_open(self) -> _core.BatchStream:
        if self._stream is None:
            self._stream = self._open()
        return self._stream

    def batch_at(self, k: int) -> tuple[_torch.Tensor, _torch.Tensor]:
        """Batch k (trajectories first_index + k*batch ...), on this object's device."""
        return self._stream_or_open().next(_int(k, "k"), "torch")

    def indices(self) -> Iterator[int]:
        """The batch indices this process (and DataLoader worker) yields, in order."""
        info = _get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        share, stride = self.rank * nw + wid, self.world_size * nw
        ks = _itertools.count(self.start + share, stride)
        if self.steps is None:
            return ks
        return iter(range(self.start + share, self.start + self.steps, stride))

    def __iter__(self) -> Iterator[tuple[_torch.Tensor, _torch.Tensor]]:
        stream = self._stream_or_open()
        for k in self.indices():
            yield stream.next(k, "torch")

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("Batches without steps= has no length")
        return len(range(self.rank, self.steps, self.world_size))

    def __repr__(self) -> str:
        return (f"sptrain.torch.Batches(batch={self.batch}, seed={self.seed}, device={self.device!r}, "
                f"label={self.label!r}, steps={self.steps}, rank={self.rank}/{self.world_size})")

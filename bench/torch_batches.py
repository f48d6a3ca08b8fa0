#!/usr/bin/env python3
"""One PyTorch training loop fed three ways, side by side: samples/s of the whole loop (make the
batch, forward, backward, Adam) and of making the batches alone, as ratios to sptrain.

  python3 bench/torch_batches.py --peer PATH/torch_peer.py [--device cpu|cuda] [--batch 256]
      [--steps 20] [--andi-steps 2] [--warmup 2] [--repeats 3] [--threads N] [--out results.md]

The task is the report's 3.4.3 (has a switch at t = 500 or not, two step sizes s ~ U(0, 20),
dt = 0.1), 1000 positions read as 999 squared displacements, two classes, for every source:
  sptrain   sptrain.torch.Batches over experiments/report-3.4.3-code.toml, label has_switch,
            made on --device;
  peer      gen_hasswitch of the PyTorch peer script given by --peer (loaded from that path),
            made on --device with torch's own random numbers;
  andi      andi_datasets' models_phenom().multi_state (2-D Brownian motion switching between
            two diffusion coefficients by a per-step Markov chain, numpy on the host), turned
            into the same features (squared displacements summed over the two axes), labelled
            "switched at least once", then torch.from_numpy and a copy to --device. Its model is
            not the report's: the switch is Markov (any time, any number) and the coefficients
            are fixed per state; only the shapes and the work per step are equal.
The network, loss (cross-entropy on class indices) and optimizer (Adam, lr 1e-3) are the same
object for all three; each source trains its own copy from the same initial weights. The model is
a small conv net so that the cost of making the data is visible beside the training. A source that
cannot be loaded (andi-datasets not installed, no peer) is reported as skipped, not as an error.

Each timing is the fastest of --repeats runs of --steps batches after --warmup batches (andi:
--andi-repeats runs of --andi-steps batches after one, as it makes a trajectory in a Python loop
and is far slower); timings synchronize the GPU before the clock is read.
"""
import argparse
import datetime
import importlib.util
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "experiments", "report-3.4.3-code.toml")  # what gen_hasswitch draws
LENGTH = 1000  # positions per trajectory: 999 squared displacements


class Net(nn.Module):
    """Two 1-D convolutions, max over time, a linear head: ~1.5k parameters."""

    def __init__(self, classes=2, f=16):
        super().__init__()
        self.c1, self.c2 = nn.Conv1d(1, f, 5, padding=2), nn.Conv1d(f, f, 5, padding=4, dilation=2)
        self.head = nn.Linear(f, classes)

    def forward(self, x):  # x: (B, 1, T)
        return self.head(F.relu(self.c2(F.relu(self.c1(x)))).amax(2))


def sptrain_source(batch, seed, device):
    import sptrain.torch
    data = sptrain.torch.Batches(SPEC, batch=batch, seed=seed, device=device, label="has_switch")
    (_, t, c), (_, s, k) = data.shapes()
    if (t, c, s, k) != (LENGTH - 1, 1, 1, 2):
        raise RuntimeError(f"{SPEC}: batches of shape {(t, c)} / {(s, k)}, want {(LENGTH - 1, 1)} / (1, 2)")
    it = iter(data)

    def make():
        x, y = next(it)  # x (B, T, 1), y one-hot (B, 1, 2)
        # (B, 1, T) as a view with the standard strides: x.transpose(1, 2) is the same tensor with
        # strides (T, 1, 1), for which torch 1.13's CPU convolution takes a path ~25 % slower here.
        return x.view(x.shape[0], 1, -1), y[:, 0, 1].long()
    return make


def peer_source(path, batch, device):
    spec = importlib.util.spec_from_file_location("torch_peer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dev = torch.device(device)

    def make():
        x, y = mod.gen_hasswitch(batch, dev, T=LENGTH - 1)  # x (B, 999) squared displacements
        return x[:, None, :], y
    return make


def andi_source(batch, device):
    from andi_datasets.models_phenom import models_phenom
    gen = models_phenom()
    # Two Brownian states (alpha 1), D 1 and 10 (fixed: variance 0), leaving a state with
    # probability 1/1000 per step: about half the trajectories switch at least once.
    p = 1e-3
    m = [[1 - p, p], [p, 1 - p]]

    def make():
        pos, labels = gen.multi_state(N=batch, T=LENGTH, M=m, Ds=[[1.0, 0.0], [10.0, 0.0]],
                                      alphas=[[1.0, 0.0], [1.0, 0.0]], return_state_num=True)
        # pos (T, N, 2); labels (T, N, 4): the state number is the last column
        dx = np.diff(pos, axis=0)
        feat = (dx * dx).sum(2).T.astype(np.float32)  # (N, T-1)
        state = labels[:, :, -1]
        switched = (state != state[:1]).any(0)
        x = torch.from_numpy(np.ascontiguousarray(feat))[:, None, :].to(device)
        return x, torch.from_numpy(switched.astype(np.int64)).to(device)
    return make


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, steps, warmup, repeats, device):
    """Seconds of the fastest of `repeats` runs of `steps` calls of fn, after `warmup` calls (the
    fastest: other work on the machine only ever slows a run down)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(make, init_state, steps, warmup, repeats, batch, device):
    net = Net().to(device)
    net.load_state_dict(init_state)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        x, y = make()
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    last = {}

    def data():
        last["x"], last["y"] = make()  # kept until the next batch: made, not just queued on the GPU

    gen_s = timed(data, steps, warmup, repeats, device)
    loop_s = timed(step, steps, warmup, repeats, device)
    return {"data_samples_per_s": batch * steps / gen_s, "loop_samples_per_s": batch * steps / loop_s,
            "steps": steps, "repeats": repeats, "positive_fraction": last["y"].float().mean().item(),
            "x_shape": list(last["x"].shape)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", help="path of torch_peer.py, whose gen_hasswitch is source (b); none: skipped")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="timed batches per run (sptrain, peer)")
    ap.add_argument("--andi-steps", type=int, default=2, help="timed batches per run for andi-datasets")
    ap.add_argument("--andi-repeats", type=int, default=1, help="runs per timing for andi-datasets (one warm-up batch)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing; the fastest is reported")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", default="", help="comma-separated sources to leave out (sptrain, peer, andi)")
    ap.add_argument("--out", help="also write the markdown table (and the command) to this file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    init = {k: v.clone() for k, v in Net().state_dict().items()}
    skip = set(filter(None, a.skip.split(",")))
    # (name, opener, timed batches, warm-up batches, runs)
    sources = [("sptrain", lambda: sptrain_source(a.batch, a.seed, a.device), a.steps, a.warmup, a.repeats),
               ("peer", lambda: peer_source(a.peer, a.batch, a.device) if a.peer else None, a.steps, a.warmup,
                a.repeats),
               ("andi", lambda: andi_source(a.batch, a.device), a.andi_steps, min(a.warmup, 1), a.andi_repeats)]
    rows = {}
    for name, open_source, steps, warmup, repeats in sources:
        if name in skip:
            rows[name] = {"skipped": "--skip"}
            continue
        try:
            make = open_source()
        except Exception as e:  # a source that is not there is reported, the others still run
            rows[name] = {"skipped": f"{type(e).__name__}: {e}"}
            print(f"torch_batches: {name} skipped ({rows[name]['skipped']})", file=sys.stderr)
            continue
        if make is None:
            rows[name] = {"skipped": "no --peer given"}
            continue
        rows[name] = measure(make, init, steps, warmup, repeats, a.batch, a.device)
        print(json.dumps({"source": name, **rows[name]}), file=sys.stderr)
    table = report(rows, a)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table)


def report(rows, a):
    base = rows.get("sptrain", {})
    dev = (torch.cuda.get_device_name() if a.device.startswith("cuda") else
           f"CPU, {torch.get_num_threads()} torch threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    lines = [f"torch_batches {datetime.date.today()}: {dev}, torch {torch.__version__}, batch {a.batch}, "
             f"{LENGTH} positions (999 squared displacements), fastest of the runs, after warm-up batches",
             "", f"    {' '.join(['python3'] + sys.argv)}", "",
             "| source | loop samples/s | loop vs sptrain | data samples/s | data vs sptrain | batches timed | has switch |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | |")
            continue
        ratio = lambda key: f"{r[key] / base[key]:.3g}" if key in base else "-"
        lines.append(f"| {name} | {r['loop_samples_per_s']:.4g} | {ratio('loop_samples_per_s')} | "
                     f"{r['data_samples_per_s']:.4g} | {ratio('data_samples_per_s')} | {r['steps']} x {r['repeats']} | "
                     f"{r['positive_fraction']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

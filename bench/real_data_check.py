#!/usr/bin/env python3
"""Checks `sptrain fit` on real tracks against two independent estimates of D.

Links a localization file (whitespace columns: frame, x, y in pixels, further columns ignored) with
trackpy (search_range 5 px, memory 3 frames, tracks of >= 25 localizations), runs `sptrain fit`
on the tracks with a stated pixel size and frame interval, and compares its D with
  - trackpy's ensemble MSD (emsd): a straight line through the first lags, D = slope / 4
    (2-D; the intercept takes up the localization noise), and
  - a jump-distance fit: the empirical CDF of the squared one-frame jumps fitted with one
    exponential, 1 - exp(-r2 / m), and with two, 1 - f exp(-r2 / m1) - (1 - f) exp(-r2 / m2);
    for 2-D jumps m = 4 D dt + 4 loc2, so D = (m - 4 loc2) / (4 dt) with the pooled loc2 of
    `sptrain fit` (the uncorrected m / (4 dt) is printed too).
Intervals: sptrain's own (fit.json); for emsd and the jump-distance fits the 2.5-97.5 % percentiles
of a bootstrap over tracks. The table goes to stdout and to the --out Markdown file.

    python3 bench/real_data_check.py DATA.txt [--pixel-size 0.16] [--frame-interval 0.02]
        [--sptrain build/bin/sptrain] [--out bench/results/real_data_YYYY-MM-DD.md]

Needs numpy, pandas, scipy and trackpy (PyPI).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import trackpy as tp
from scipy.optimize import curve_fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_sptrain():
    for d in ("build", "build-cpu"):
        p = os.path.join(ROOT, d, "bin", "sptrain")
        if os.access(p, os.X_OK):
            return p
    return "sptrain"


def link(path, search_range, memory, min_length):
    a = np.loadtxt(path, ndmin=2)
    df = pd.DataFrame({"frame": a[:, 0].astype(int), "x": a[:, 1], "y": a[:, 2]})
    tp.quiet()
    t = tp.link(df, search_range=search_range, memory=memory)
    t = tp.filter_stubs(t, min_length).reset_index(drop=True)
    return t.sort_values(["particle", "frame"]).reset_index(drop=True)


def run_fit(sptrain, csv, out, px, dt, extra, seed):
    cmd = [sptrain, "fit", "--input", csv, "--pixel-size", str(px), "--frame-interval", str(dt),
           "--out-dir", out, "--seed", str(seed), "--no-plots"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("sptrain fit failed (%d): %s" % (p.returncode, p.stderr))
    with open(os.path.join(out, "fit.json")) as f:
        return json.load(f), p.stdout


def per_track_msd(t, px, dt, max_lag):
    """Per particle: lag time (s), MSD (um^2, x^2 + y^2) and the number of pairs, from trackpy."""
    out = {}
    for pid, g in t.groupby("particle"):
        m = tp.msd(g, mpp=px, fps=1 / dt, max_lagtime=max_lag, detail=True)
        out[pid] = (m["lagt"].to_numpy(), m["msd"].to_numpy(), m["N"].to_numpy())
    return out


def emsd_d(tracks, ids, lags):
    lagt = None
    num = np.zeros(lags)
    den = np.zeros(lags)
    for pid in ids:
        lt, m, n = tracks[pid]
        k = min(lags, len(m))
        ok = np.isfinite(m[:k]) & (n[:k] > 0)
        num[:k][ok] += (m[:k] * n[:k])[ok]
        den[:k][ok] += n[:k][ok]
        if lagt is None or len(lt) > len(lagt):
            lagt = lt
    use = den > 0
    x = lagt[:lags][use]
    y = num[use] / den[use]
    slope, icpt = np.polyfit(x, y, 1)
    return slope / 4, icpt


def jumps(t, px):
    r2 = {}
    for pid, g in t.groupby("particle"):
        f = g["frame"].to_numpy()
        xy = g[["x", "y"]].to_numpy() * px
        one = np.diff(f) == 1
        r2[pid] = np.sum(np.diff(xy, axis=0) ** 2, axis=1)[one]
    return r2


def cdf_k(x, *p):
    """Mixture of K exponentials in r2: p = (w_1..w_K, m_1..m_K), fractions w / sum(w)."""
    k = len(p) // 2
    w = np.asarray(p[:k])
    w = w / w.sum()
    return 1 - sum(w[i] * np.exp(-x / p[k + i]) for i in range(k))


def jd_fit(r2, k):
    """Least-squares fit of the empirical CDF of r2 with k exponentials: (fractions, means), sorted
    by mean. Starts: means spread geometrically around the mean r2 by factors 3, 10 and 30, equal
    fractions; the best residual wins."""
    x = np.sort(r2)
    y = (np.arange(1, len(x) + 1) - 0.5) / len(x)
    best = None
    for spread in (3.0, 10.0, 30.0) if k > 1 else (1.0,):
        means = x.mean() * spread ** (np.arange(k) - (k - 1) / 2)
        p0 = list(np.full(k, 1.0 / k)) + list(means)
        try:
            p, _ = curve_fit(cdf_k, x, y, p0=p0, bounds=([1e-9] * k + [1e-12] * k, [1.0] * k + [np.inf] * k),
                             maxfev=20000)
        except RuntimeError:
            continue
        sse = float(np.sum((cdf_k(x, *p) - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, p)
    if best is None:
        return np.full(k, np.nan), np.full(k, np.nan)
    w = best[1][:k] / best[1][:k].sum()
    m = best[1][k:]
    o = np.argsort(m)
    return w[o], m[o]


def pct(v):
    v = np.asarray([x for x in v if np.isfinite(x)])
    return (np.percentile(v, 2.5), np.percentile(v, 97.5)) if len(v) else (np.nan, np.nan)


def overlap(a, b):
    return a[0] <= b[1] and b[0] <= a[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="localization file: frame, x, y (pixels) per row, whitespace-separated")
    ap.add_argument("--pixel-size", type=float, default=0.16, help="um per pixel (assumed: 0.16)")
    ap.add_argument("--frame-interval", type=float, default=0.02, help="s per frame (assumed: 0.02)")
    ap.add_argument("--sptrain", default=find_sptrain())
    ap.add_argument("--lags", type=int, default=4, help="lags of the emsd line fit")
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                  "real_data_%s.md" % datetime.date.today().isoformat()))
    a = ap.parse_args()
    px, dt = a.pixel_size, a.frame_interval
    t = link(a.data, 5, 3, 25)
    ids = sorted(t["particle"].unique())
    gaps = int(sum((np.diff(g["frame"].to_numpy()) > 1).sum() for _, g in t.groupby("particle")))
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "tracks.csv")
        t[["particle", "frame", "x", "y"]].to_csv(csv, index=False)
        fit_bic, table = run_fit(a.sptrain, csv, os.path.join(tmp, "bic"), px, dt, [], a.seed)
        table = table.replace(csv, "the linked tracks")
        fit1, _ = run_fit(a.sptrain, csv, os.path.join(tmp, "k1"), px, dt, ["--states", "1"], a.seed)
        fit2, _ = run_fit(a.sptrain, csv, os.path.join(tmp, "k2"), px, dt, ["--states", "2"], a.seed)
    loc2 = fit_bic["localization"]["loc2_um2"]
    dkey, cikey = "D_um2_per_s", "D_ci_um2_per_s"

    # trackpy emsd and the jump-distance fits, with a bootstrap over tracks.
    msd = per_track_msd(t, px, dt, a.lags)
    full = tp.emsd(t, mpp=px, fps=1 / dt, max_lagtime=a.lags)
    d_emsd, icpt = emsd_d(msd, ids, a.lags)
    check = np.polyfit(full.index.to_numpy()[:a.lags], full.to_numpy()[:a.lags], 1)[0] / 4
    assert abs(check - d_emsd) <= 1e-9 * abs(d_emsd) + 1e-12, (check, d_emsd)
    r2 = jumps(t, px)
    all_r2 = np.concatenate([r2[i] for i in ids])
    corr = lambda mm: (mm - 4 * loc2) / (4 * dt)
    K = fit_bic["hmm"]["K"]
    ks = sorted({1, 2, K})
    fits = {k: jd_fit(all_r2, k) for k in ks}
    rng = np.random.default_rng(a.seed)
    be, bmean = [], []
    bk = {k: ([], []) for k in ks}  # per K: fractions, D
    for _ in range(a.bootstrap):
        s = list(rng.choice(ids, size=len(ids), replace=True))
        be.append(emsd_d(msd, s, a.lags)[0])
        sr2 = np.concatenate([r2[i] for i in s])
        bmean.append(corr(sr2.mean()))
        for k in ks:
            w, m = jd_fit(sr2, k)
            bk[k][0].append(w)
            bk[k][1].append(corr(m))
    ci_emsd, ci_mean = pct(be), pct(bmean)

    hmm = {1: fit1, 2: fit2, K: fit_bic}
    pooled = fit_bic["pooled_cve"]
    rows = []

    def row(what, sp_name, sp, sp_ci, other_name, other, other_ci):
        ok = overlap(sp_ci, other_ci)
        rows.append((what, sp_name, sp, sp_ci, other_name, other, other_ci, ok))

    row("one D", "pooled CVE", pooled[dkey], pooled[cikey], "trackpy emsd, slope/4", d_emsd, ci_emsd)
    s1 = fit1["hmm"]["states"][0]
    row("one D", "HMM K=1", s1[dkey], s1[cikey], "jump distance, 1 exp, ML (mean r2)", corr(all_r2.mean()), ci_mean)
    for k in ks:
        w, m = fits[k]
        states = hmm[k]["hmm"]["states"]
        for j in range(k):
            ci_d = pct([v[j] for v in bk[k][1]])
            row("K=%d state %d D" % (k, j), "HMM K=%d%s" % (k, " (BIC)" if k == K else ""), states[j][dkey],
                states[j][cikey], "jump distance, %d exp, LSQ CDF" % k, corr(m[j]), ci_d)
            if k > 1:
                ci_w = pct([v[j] for v in bk[k][0]])
                row("K=%d state %d fraction" % (k, j), "HMM K=%d occupancy" % k, states[j]["occupancy"],
                    states[j]["occupancy_ci"], "jump distance, %d exp, LSQ CDF" % k, w[j], ci_w)

    g = lambda v: "%.4g" % v if v is not None and np.isfinite(v) else "-"
    gi = lambda c: "[%s, %s]" % (g(c[0]), g(c[1]))
    lines = []
    lines.append("# sptrain fit on real tracks against trackpy emsd and a jump-distance fit")
    lines.append("")
    lines.append("Data: `%s`, linked with trackpy %s (search_range 5 px, memory 3, filter_stubs 25): "
                 "%d tracks, %d localizations, %d gaps. Pixel size %g um/px and frame interval %g s are "
                 "**assumed** (the file states neither). D in um^2/s; intervals 95 %% (sptrain: its own; "
                 "emsd and jump distance: %d bootstrap resamples of the tracks)."
                 % (os.path.basename(a.data), tp.__version__, len(ids), len(t), gaps, px, dt, a.bootstrap))
    lines.append("")
    lines.append("sptrain: pooled localization noise %s um (loc2 %s um^2); BIC chose K = %d (BIC %s). "
                 "emsd line over lags 1..%d frames: intercept %s um^2. Jump-distance D are corrected for the "
                 "noise, (m - 4 loc2) / (4 dt) with sptrain's pooled loc2; uncorrected, the 1-exponential "
                 "least-squares fit gives %s um^2/s. %d one-frame jumps (jumps over gaps are left out)."
                 % (g(np.sqrt(loc2)), g(loc2), fit_bic["hmm"]["K"], ", ".join(g(v) for v in fit_bic["hmm"]["bic"]),
                    a.lags, g(icpt), g(fits[1][1][0] / (4 * dt)), len(all_r2)))
    lines.append("")
    lines.append("| quantity | sptrain | value | 95 % CI | other | value | 95 % CI | CIs overlap |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for what, sn, sv, sc, on, ov, oc, ok in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (what, sn, g(sv), gi(sc), on, g(ov), gi(oc), "yes" if ok else "**no**"))
    lines.append("")
    lines.append("%d of %d comparisons have overlapping intervals." % (sum(r[-1] for r in rows), len(rows)))
    lines.append("")
    lines.append("sptrain fit with K by BIC (stdout):")
    lines.append("")
    lines.append("```")
    lines.extend(table.rstrip().split("\n")[:12])
    lines.append("```")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        fh.write(text)
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

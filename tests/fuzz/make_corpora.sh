#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made from sptrain's own outputs (nothing is committed):
#   tests/fuzz/make_corpora.sh SPTRAIN_BINARY OUT_DIR
# writes OUT_DIR/<target>/ for each target of tests/fuzz/CMakeLists.txt:
#   fuzz_spec            experiments' specs and the spec.toml a run directory holds
#   fuzz_train_config    experiments/train-*.toml and a run directory's config.toml
#   fuzz_trajectory_csv  `sptrain simulate --out x.csv` (2D and 1D, every label kind)
#   fuzz_npy             `sptrain simulate --out x.npy` positions (float32) and labels members
#   fuzz_npz             the <stem>.labels.npz beside them
#   fuzz_checkpoint      last/best.safetensors of a tiny `sptrain train` run
#   fuzz_trackmate_csv   TrackMate spots tables (unit rows in micron, nm, pixel; 2-D and 3-D)
#   fuzz_trackmate_xml   TrackMate XML: "Export tracks to XML" and the model file, from simulated tracks
#   fuzz_andi2020        AnDi 2020 challenge lines (1-, 2- and 3-D) from simulated tracks
# The last three targets take the read options from the first byte (tests/fuzz/fuzz_tracks.hpp):
# each of their seeds is written twice, after a byte 0x00 (defaults) and after 0x0f (all options).
# Outputs are kept small (few, short trajectories; a small model) so that each execution is fast.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in fuzz_spec fuzz_train_config fuzz_trajectory_csv fuzz_npy fuzz_npz fuzz_checkpoint \
         fuzz_trackmate_csv fuzz_trackmate_xml fuzz_andi2020; do
  rm -rf "${out:?}/$t"
  mkdir -p "$out/$t"
done
exp=$root/experiments
# Runs the CLI with its messages kept out of the way, shown only if it fails.
run() { "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }; }

for f in "$exp"/*.toml; do
  case $(basename "$f") in
    train-*) cp "$f" "$out/fuzz_train_config/" ;;
    *) cp "$f" "$out/fuzz_spec/" ;;
  esac
done

# Trajectories: a few short ones per label kind, 2D and 1D, as CSV and as NPY + labels NPZ.
i=0
for spec in report-3.2-text.toml report-3.4.1-text.toml markov-3state-noise.toml; do
  for dims in 2 1; do
    i=$((i + 1))
    sets=(--set "length=24" --set "dims=$dims")
    run "$cli" simulate --spec "$exp/$spec" "${sets[@]}" --n 3 --seed "$i" --out "$work/t$i.csv"
    run "$cli" simulate --spec "$exp/$spec" "${sets[@]}" --n 3 --seed "$i" --out "$work/t$i.npy"
    cp "$work/t$i.csv" "$out/fuzz_trajectory_csv/"
    cp "$work/t$i.npy" "$out/fuzz_npy/"
    cp "$work/t$i.labels.npz" "$out/fuzz_npz/"
  done
done
# The NPZ members themselves are NPY images of every dtype the writer uses.
python3 - "$work" "$out/fuzz_npy" <<'PY'
import glob, os, sys, zipfile
work, dst = sys.argv[1], sys.argv[2]
for z in sorted(glob.glob(os.path.join(work, "t1.labels.npz")) + glob.glob(os.path.join(work, "t5.labels.npz"))):
    with zipfile.ZipFile(z) as f:
        for m in f.namelist():
            stem = os.path.basename(z).split(".")[0]
            with open(os.path.join(dst, f"{stem}-{m}"), "wb") as o:
                o.write(f.read(m))
PY

# The formats of other tools, written from the simulated positions (t1: 2-D, t2: 1-D, t3: 2-D).
python3 - "$work" "$out" <<'PY'
import os, sys
import numpy as np
work, out = sys.argv[1], sys.argv[2]

def seed(target, name, text):
    for flag in (b"\x00", b"\x0f"):
        with open(os.path.join(out, target, f"{name}-{flag[0]:02x}"), "wb") as f:
            f.write(flag + text.encode())

tracks = {i: np.load(os.path.join(work, f"t{i}.npy")) for i in (1, 2, 3)}
for i, x in tracks.items():
    x = x if x.ndim == 3 else x[:, :, None]
    lines = []
    for tr in x[:, :12]:
        d = tr.shape[1]
        lines.append(";".join([f"{float(d)}"] + [f"{v:.6g}" for a in range(d) for v in tr[:, a]]))
    seed("fuzz_andi2020", f"andi-{i}", "\n".join(lines) + "\n")
seed("fuzz_andi2020", "andi-3d", "3;0;1;2;0;1;2;5;5;6\n3;1;1;1;2;2;2;3;3;3\n")

def spots(x, z):
    # One row per spot: (track, spot id, frame, x, y, z, t)
    rows, sid = [], 0
    for k, tr in enumerate(x[:3, :10]):
        for f, p in enumerate(tr):
            rows.append((k, sid, f, p[0], p[1], z(k, f), 0.05 * f))
            sid += 1
    return rows

x2 = tracks[1]
for unit, tunit, z in (("micron", "sec", lambda k, f: 0.0), ("nm", "ms", lambda k, f: 0.5 * f), ("pixel", "frame", lambda k, f: 0.0)):
    head = ("LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME,RADIUS\n"
            "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame,Radius\n"
            "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame,R\n"
            f",,,(quality),({unit}),({unit}),({unit}),({tunit}),,({unit})\n")
    body = "".join(f"ID{s},{s},{k},1.0,{px:.6g},{py:.6g},{pz:.6g},{t:.6g},{f},0.2\n"
                   for k, s, f, px, py, pz, t in spots(x2, z))
    seed("fuzz_trackmate_csv", f"spots-{unit}", head + body)
    tracks_xml = [f'<?xml version="1.0" encoding="UTF-8"?>\n<Tracks nTracks="3" spaceUnits="{unit}" '
                  f'frameInterval="0.05" timeUnits="{tunit}" generationDateTime="now" from="TrackMate v7">']
    for k in range(3):
        rows = [r for r in spots(x2, z) if r[0] == k]
        tracks_xml.append(f'  <particle nSpots="{len(rows)}">')
        tracks_xml += [f'    <detection t="{f}" x="{px:.6g}" y="{py:.6g}" z="{pz:.6g}" />' for _, _, f, px, py, pz, _ in rows]
        tracks_xml.append("  </particle>")
    tracks_xml.append("</Tracks>\n")
    seed("fuzz_trackmate_xml", f"tracks-{unit}", "\n".join(tracks_xml))
    model = [f'<?xml version="1.0" encoding="UTF-8"?>\n<TrackMate version="7.11.1">\n  <Log>log</Log>\n'
             f'  <Model spatialunits="{unit}" timeunits="{tunit}">\n    <AllSpots nspot="30">']
    rows = spots(x2, z)
    for f in range(10):
        model.append(f'      <SpotsInFrame frame="{f}">')
        model += [f'        <Spot ID="{s}" name="ID{s}" FRAME="{f}" POSITION_X="{px:.6g}" POSITION_Y="{py:.6g}" '
                  f'POSITION_Z="{pz:.6g}" POSITION_T="{t:.6g}" QUALITY="1"/>' for k, s, ff, px, py, pz, t in rows if ff == f]
        model.append("      </SpotsInFrame>")
    model.append("    </AllSpots>\n    <AllTracks>")
    for k in range(3):
        ids = [s for kk, s, *_ in rows if kk == k]
        model.append(f'      <Track name="Track_{k}" TRACK_ID="{k}">')
        model += [f'        <Edge SPOT_SOURCE_ID="{a}" SPOT_TARGET_ID="{b}" LINK_COST="1"/>' for a, b in zip(ids, ids[1:])]
        model.append("      </Track>")
    model.append('    </AllTracks>\n    <FilteredTracks><TrackID TRACK_ID="0"/><TrackID TRACK_ID="2"/></FilteredTracks>\n'
                 '  </Model>\n  <Settings><ImageData filename="a.tif" frameinterval="0.05" pixelwidth="0.16"/></Settings>\n'
                 '</TrackMate>\n')
    seed("fuzz_trackmate_xml", f"model-{unit}", "\n".join(model))
PY

# A tiny training run: its resolved config and spec, and its checkpoints.
run "$cli" train --config "$exp/train-3.1.toml" --run-dir "$work/run" --device cpu --quiet \
  --set data.train_size=64 --set data.val_size=32 --set data.test_size=32 --set train.batch=32 \
  --set train.epochs=1 --set 'data.set=["length=40"]'
cp "$work/run/config.toml" "$out/fuzz_train_config/run-config.toml"
cp "$work/run/spec.toml" "$out/fuzz_spec/run-spec.toml"
for c in "$work"/run/*.safetensors; do cp "$c" "$out/fuzz_checkpoint/"; done
for t in "$out"/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds, $(du -sk "$t" | cut -f1) KiB"; done

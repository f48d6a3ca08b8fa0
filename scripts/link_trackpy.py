#!/usr/bin/env python3
"""Link localizations into tracks with trackpy and write the table sptrain reads.

    scripts/link_trackpy.py LOCALIZATIONS OUT.csv [--search-range 5] [--memory 3] [--min-length 25]

LOCALIZATIONS is a text table of one localization per row: whitespace separated without a header
(columns chosen with --frame-col/--x-col/--y-col, 1-based; default 1, 2, 3), or CSV with a header
naming `frame`, `x` and `y`. Positions are kept in the file's unit (pixels for most localizers):
give `sptrain fit` the pixel size with --pixel-size. trackpy.link joins localizations of
consecutive frames within --search-range (same unit as x, y), bridging up to --memory missing
frames (such tracks then have gaps, which sptrain keeps as gaps); trackpy.filter_stubs drops tracks
with fewer than --min-length localizations. OUT.csv has the columns particle, frame, x, y, sorted by
particle and frame. Needs trackpy and pandas (pip install trackpy).
"""
import argparse
import sys


def read_localizations(path, frame_col, x_col, y_col):
    import pandas as pd

    with open(path, "r", encoding="utf-8", errors="replace") as f:
        first = ""
        for line in f:
            if line.strip():
                first = line
                break
    if "," in first and any(c.isalpha() for c in first):
        df = pd.read_csv(path)
        missing = [c for c in ("frame", "x", "y") if c not in df.columns]
        if missing:
            sys.exit(f"{path}: no column {', '.join(missing)} (CSV input needs frame, x, y)")
        return df[["frame", "x", "y"]].copy()
    raw = pd.read_csv(path, sep=r"\s+", header=None, comment="#", engine="python")
    ncol = raw.shape[1]
    for name, c in (("--frame-col", frame_col), ("--x-col", x_col), ("--y-col", y_col)):
        if not 1 <= c <= ncol:
            sys.exit(f"{path}: {name} {c} is outside the file's {ncol} columns")
    df = pd.DataFrame({"frame": raw[frame_col - 1], "x": raw[x_col - 1], "y": raw[y_col - 1]})
    if not (df["frame"] == df["frame"].round()).all():
        sys.exit(f"{path}: column {frame_col} holds non-integer values; is it the frame number?")
    df["frame"] = df["frame"].astype("int64")
    return df


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--search-range", type=float, default=5.0, help="largest step linked, in the unit of x, y (5)")
    ap.add_argument("--memory", type=int, default=3, help="frames a particle may vanish for and be linked again (3)")
    ap.add_argument("--min-length", type=int, default=25, help="drop tracks with fewer localizations (25)")
    ap.add_argument("--frame-col", type=int, default=1, help="text input: column of the frame number (1)")
    ap.add_argument("--x-col", type=int, default=2, help="text input: column of x (2)")
    ap.add_argument("--y-col", type=int, default=3, help="text input: column of y (3)")
    a = ap.parse_args()

    import trackpy as tp

    tp.quiet()
    locs = read_localizations(a.input, a.frame_col, a.x_col, a.y_col)
    linked = tp.link(locs, search_range=a.search_range, memory=a.memory)
    kept = tp.filter_stubs(linked, a.min_length).reset_index(drop=True)
    out = kept[["particle", "frame", "x", "y"]].sort_values(["particle", "frame"])
    tmp = a.output + ".tmp"
    out.to_csv(tmp, index=False)
    import os

    os.replace(tmp, a.output)
    n = out["particle"].nunique()
    gaps = sum(int((g["frame"].diff().dropna() > 1).any()) for _, g in out.groupby("particle"))
    print(f"{a.output}: {len(out)} localizations in {n} tracks of >= {a.min_length} ({gaps} with gaps), "
          f"from {len(locs)} localizations", file=sys.stderr)


if __name__ == "__main__":
    main()

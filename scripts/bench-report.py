#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the guest's BENCH lines (tests/vm/bench.sh) into ratios, a JSON file and a PNG plot.

usage: bench-report.py RAW RESULTS.json PLOT.png

Every number is the median over repetitions; every comparison is a ratio, rbcache over C.
The plot shows each system's per-10-ms-window worst write latency over time (first
repetition), rbcache above C, with the windows that overlap a GC pass shaded.
"""
import json
import statistics
import struct
import sys
import zlib


def parse(path):
    vals, lat = {}, {}
    done = False
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) == 2 and f[0] == "BENCH" and f[1] == "done":
            done = True
        elif len(f) == 5 and f[0] == "BENCH":
            _, sysname, rep, key, value = f
            try:
                v = float(value)
            except ValueError:
                continue
            # A latency of 0 means the job's log was empty: no measurement.
            if key.startswith("p99") and v <= 0:
                continue
            vals.setdefault(sysname, {}).setdefault(key, []).append(v)
        elif len(f) == 6 and f[0] == "BENCHLAT" and f[2] == "1":
            _, sysname, _, w, p, gc = f
            lat.setdefault(sysname, []).append((float(w), float(p), gc == "1"))
    return vals, lat, done


def med(vals, sysname, key):
    v = vals.get(sysname, {}).get(key)
    return statistics.median(v) if v else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b not in (None, 0) else None


def png(path, panels, width=1000, height=300):
    """panels: [(title, [(t, v, gc)])]; writes one stacked plot per panel."""
    H = height * len(panels)
    img = [[(255, 255, 255)] * width for _ in range(H)]
    for pi, (_, pts) in enumerate(panels):
        top = pi * height
        if not pts:
            continue
        tmax = max(p[0] for p in pts) + 10
        vs = sorted(p[1] for p in pts)
        vmax = max(vs[int(len(vs) * 0.995) - 1] if len(vs) > 1 else vs[0], 1.0) * 1.1
        for t, v, gc in pts:
            x0 = int(t / tmax * (width - 1))
            x1 = max(x0 + 1, int((t + 10) / tmax * (width - 1)))
            if gc:
                for y in range(top + 5, top + height - 5):
                    for x in range(x0, min(x1, width)):
                        img[y][x] = (255, 210, 210)
        for t, v, gc in pts:
            x = int(t / tmax * (width - 1))
            y = top + height - 6 - int(min(v, vmax) / vmax * (height - 12))
            colour = (200, 0, 0) if gc else (0, 0, 180)
            for dy in (-1, 0, 1):
                if top <= y + dy < top + height:
                    img[y + dy][x] = colour
        for x in range(width):
            img[top + height - 1][x] = (0, 0, 0)
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in img)

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, H, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    raw, results, plot = sys.argv[1:4]
    vals, lat, done = parse(raw)
    if not done or "rb" not in vals:
        print("bench: the guest did not finish", file=sys.stderr)
        return 1
    hung = [s for s in vals if vals[s].get("hung")]
    if "c" not in vals:
        vals["c"] = {}
    r = {"systems": {}, "ratios_rb_over_c": {}, "hung": hung}
    for s in ("rb", "c"):
        d = {k: med(vals, s, k) for k in vals[s]}
        gc, nogc = d.get("p99_gc_us"), d.get("p99_nogc_us")
        d["p99_gc_over_nogc"] = ratio(gc, nogc)
        nodes = d.get("btree_nodes") or 0
        d["gc_ms_per_node"] = ratio(d.get("gc_avg_duration_ms"), nodes) if nodes else None
        if d.get("moving_buckets_freed"):
            freed_sectors = d["moving_buckets_freed"] * d.get("bucket_kb", 64) * 2
            d["moving_gc_write_amp"] = ratio(d.get("moving_sectors"), freed_sectors)
        r["systems"][s] = d
    rb, c = r["systems"]["rb"], r["systems"]["c"]
    for k in ("randwrite_iops", "zipf_read_iops", "gc_ms_per_node"):
        r["ratios_rb_over_c"][k] = ratio(rb.get(k), c.get(k))
    r["ratios_rb_over_c"]["p99_gc_over_nogc"] = ratio(rb.get("p99_gc_over_nogc"), c.get("p99_gc_over_nogc"))
    g = rb.get("p99_gc_over_nogc")
    r["goal_rb_p99_gc_within_2x_of_nogc"] = g is not None and g <= 2.0
    r["reps"] = len(vals["rb"].get("randwrite_iops", []))
    with open(results, "w") as f:
        json.dump(r, f, indent=2, sort_keys=True)
    png(plot, [("rbcache", lat.get("rb", [])), ("C bcache", lat.get("c", []))])
    print(json.dumps(r["ratios_rb_over_c"], sort_keys=True))
    print(f"rbcache p99 in GC windows / outside: {g}  (goal <= 2: "
          f"{'met' if r['goal_rb_p99_gc_within_2x_of_nogc'] else 'NOT met'}); "
          f"C: {c.get('p99_gc_over_nogc')}")
    if hung:
        print(f"bench: hung (the run ended there): {', '.join(hung)}")
    print(f"results: {results}, plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

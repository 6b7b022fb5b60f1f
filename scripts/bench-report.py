#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the guest's BENCH lines (tests/vm/bench.sh) into ratios, a JSON file and a PNG plot.

usage: bench-report.py RAW RESULTS.json PLOT.png

Every number is the median over repetitions; every comparison is a ratio of rbcache and C.
paired_* holds, per compared key, the ratio of the two runs of each repetition (seconds apart,
so the host's drift over minutes cancels): its median, its mean with a t-based 95% confidence
interval (the methodology of peers-and-performance.md 5b), its range, in how many repetitions
rbcache was better, and the verdict the interval allows: "rbcache better" only if all of it
lies above 1.0, "C better" if all of it lies below, else "within noise".
ratios_rb_over_c holds rbcache / C: for the IOPS and MiB/s keys >1.0 means rbcache is better;
gc_ms_per_node and p99_gc_over_nogc are lower-is-better, so there <1.0 does. ratios_c_over_rb
holds C / rbcache for the lower-is-better backing-device keys (CPU per IO, cache bytes written
per user byte), so that >1.0 means rbcache is better there too.
The plot shows each system's per-10-ms-window worst write latency over time (first
repetition), rbcache above C, with the windows that overlap a GC pass shaded, and below them
one bar per compared key, every bar oriented so that >1.0 (right of the line) means rbcache is
better.
"""
import json
import statistics
import struct
import sys
import zlib


def parse(path):
    vals, lat, by_rep = {}, {}, {}
    done = False
    clock, mode = None, "wall"
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) == 2 and f[0] == "BENCH" and f[1] == "done":
            done = True
        elif len(f) == 3 and f[0] == "BENCH" and f[1] == "clocksource":
            clock = f[2]
        elif len(f) == 3 and f[0] == "BENCH" and f[1] == "clock":
            mode = f[2]
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
            by_rep.setdefault(sysname, {}).setdefault(key, {})[rep] = v
        elif len(f) == 6 and f[0] == "BENCHLAT" and f[2] == "1":
            _, sysname, _, w, p, gc = f
            lat.setdefault(sysname, []).append((float(w), float(p), gc == "1"))
    return vals, lat, by_rep, done, clock, mode


# Two-sided 95% quantiles of Student's t, by degrees of freedom (1..30; 1.96 beyond).
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def paired(by_rep, num, den, key):
    """The per-repetition ratios num/den of key: median, mean with its t-based 95% confidence
    interval, range, how many were above 1.0, and the verdict the interval allows."""
    a, b = by_rep.get(num, {}).get(key, {}), by_rep.get(den, {}).get(key, {})
    q = [a[rep] / b[rep] for rep in a if rep in b and b[rep]]
    if not q:
        return None
    mean = statistics.mean(q)
    half = (T95[min(len(q), 31) - 2] if len(q) <= 31 else 1.96) * \
        statistics.stdev(q) / len(q) ** 0.5 if len(q) > 1 else float("inf")
    lo, hi = mean - half, mean + half
    verdict = "rbcache better" if lo > 1.0 else "C better" if hi < 1.0 else "within noise"
    return {"median": round(statistics.median(q), 3), "mean": round(mean, 3),
            "ci95": [round(lo, 3), round(hi, 3)], "min": round(min(q), 3),
            "max": round(max(q), 3), "rb_better": sum(v > 1.0 for v in q), "reps": len(q),
            "verdict": verdict}


def med(vals, sysname, key):
    v = vals.get(sysname, {}).get(key)
    return statistics.median(v) if v else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b not in (None, 0) else None


# Higher is better: compared as rbcache / C.
HIGHER = ("randwrite_iops", "zipf_read_iops", "bk_zipf_read_iops", "bk_randwrite_iops",
          "bk_randrw_iops", "bk_fsync_iops", "bk_seqwrite_mibs")
# Lower is better, compared as rbcache / C as before (kept for compatibility).
LOWER_RB_OVER_C = ("gc_ms_per_node", "p99_gc_over_nogc")
# Lower is better, compared as C / rbcache so that >1.0 means rbcache is better.
LOWER_C_OVER_RB = ("bk_randwrite_cpu_us_per_io", "bk_cache_bytes_per_user_byte")

# A 5x7 bitmap font for the plot's labels (lower case; upper case is drawn as lower case).
FONT_ROWS = {
    "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
    "2": ".###.#...#....#...#...#...#...#####", "3": "#####...#...#.....#.....##...#.###.",
    "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
    "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
    "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
    "a": "...........###.....#.#####...#.####", "b": "#....#....#.##.##..##...##...#####.",
    "c": "...........###.#....#....#...#.###.", "d": "....#....#.##.##..###...##...#.####",
    "e": "...........###.#...#######.....###.", "f": "..##..#..#.#...###...#....#....#...",
    "g": "......#####...##...#.####....#.###.", "h": "#....#....#.##.##..##...##...##...#",
    "i": "..#........##....#....#....#...###.", "j": "...#........##....#....#.#..#..##..",
    "k": "#....#....#..#.#.#..##...#.#..#..#.", "l": ".##....#....#....#....#....#...###.",
    "m": "..........##.#.#.#.##.#.##...##...#", "n": "..........#.##.##..##...##...##...#",
    "o": "...........###.#...##...##...#.###.", "p": ".....####.#...##...#####.#....#....",
    "q": "......#####...##...#.####....#....#", "r": "..........#.##.##..##....#....#....",
    "s": "...........###.#.....###.....#####.", "t": ".#....#...###...#....#....#..#..##.",
    "u": "..........#...##...##...##..##.##.#", "v": "..........#...##...##...#.#.#...#..",
    "w": "..........#...##...##.#.##.#.#.#.#.", "x": "..........#...#.#.#...#...#.#.#...#",
    "y": ".....#...##...##...#.####....#.###.", "z": "..........#####...#...#...#...#####",
    "_": "..............................#####", ".": "..........................##...##..",
    "/": ".........#...#...#...#...#.........", "(": "...#...#...#....#....#.....#.....#.",
    ")": ".#.....#.....#....#....#...#...#...", ">": ".#.....#.....#.....#...#...#...#...",
    "<": "...#...#...#...#.....#.....#.....#.", "=": "..........#####.....#####..........",
    ":": "......##...##........##...##.......", "-": "...............#####...............",
    "%": "##...##..#...#...#...#...#..##...##", "+": ".......#....#..#####..#....#.......",
    ",": ".....................##....#...#...", " ": "...................................",
}


class Canvas:
    def __init__(self, width, height):
        self.w, self.h = width, height
        self.img = [[(255, 255, 255)] * width for _ in range(height)]

    def px(self, x, y, colour):
        if 0 <= x < self.w and 0 <= y < self.h:
            self.img[y][x] = colour

    def rect(self, x0, y0, x1, y1, colour):
        for y in range(max(y0, 0), min(y1, self.h)):
            row = self.img[y]
            for x in range(max(x0, 0), min(x1, self.w)):
                row[x] = colour

    def text(self, x, y, s, colour=(0, 0, 0), scale=2):
        """Draws s with its top left corner at (x, y); returns the x after it."""
        for ch in s.lower():
            rows = FONT_ROWS.get(ch, FONT_ROWS[" "]).ljust(35, ".")
            for i, c in enumerate(rows):
                if c == "#":
                    self.rect(x + (i % 5) * scale, y + (i // 5) * scale,
                              x + (i % 5 + 1) * scale, y + (i // 5 + 1) * scale, colour)
            x += 6 * scale
        return x

    def write(self, path):
        raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in self.img)

        def chunk(kind, data):
            c = struct.pack(">I", len(data)) + kind + data
            return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def latency_panel(cv, top, height, title, pts):
    """One system's worst latency per 10 ms window over time, GC windows shaded."""
    width = cv.w
    if pts:
        tmax = max(p[0] for p in pts) + 10
        vs = sorted(p[1] for p in pts)
        vmax = max(vs[int(len(vs) * 0.995) - 1] if len(vs) > 1 else vs[0], 1.0) * 1.1
        for t, v, gc in pts:
            x0 = int(t / tmax * (width - 1))
            x1 = max(x0 + 1, int((t + 10) / tmax * (width - 1)))
            if gc:
                cv.rect(x0, top + 5, min(x1, width), top + height - 5, (255, 210, 210))
        for t, v, gc in pts:
            x = int(t / tmax * (width - 1))
            y = top + height - 6 - int(min(v, vmax) / vmax * (height - 12))
            colour = (200, 0, 0) if gc else (0, 0, 180)
            for dy in (-1, 0, 1):
                if top <= y + dy < top + height:
                    cv.px(x, y + dy, colour)
        title += f" (top: {vmax:.0f} us)"
    cv.text(8, top + 6, title)
    cv.rect(0, top + height - 1, width, top + height, (0, 0, 0))


def bar_panel(cv, top, bars):
    """bars: [(label, ratio or None)], each oriented so that >1.0 means rbcache is better."""
    x0, x1 = 470, cv.w - 110
    vals = [v for _, v in bars if v is not None]
    vmax = min(max([2.0] + [v * 1.1 for v in vals]), 4.0)
    cv.text(8, top + 8, "ratios (median over reps): > 1 = rbcache better, < 1 = c better")
    y = top + 36
    one = x0 + int(1.0 / vmax * (x1 - x0))
    for label, v in bars:
        cv.text(8, y + 4, label)
        if v is not None:
            w = int(min(v, vmax) / vmax * (x1 - x0))
            cv.rect(x0, y + 2, x0 + max(w, 1), y + 20, (0, 150, 0) if v >= 1.0 else (200, 0, 0))
            cv.text(max(x0 + w, one + 2) + 6, y + 4, f"{v:.2f}" + ("+" if v > vmax else ""))
        else:
            cv.text(x0 + 6, y + 4, "none")
        y += 26
    cv.rect(one, top + 30, one + 2, y, (0, 0, 0))
    cv.rect(0, y + 8, cv.w, y + 9, (0, 0, 0))


def png(path, panels, bars, width=1000, height=300):
    """panels: [(title, [(t, v, gc)])], stacked latency plots; bars: see bar_panel."""
    bar_h = 50 + 26 * len(bars)
    cv = Canvas(width, height * len(panels) + bar_h)
    for pi, (title, pts) in enumerate(panels):
        latency_panel(cv, pi * height, height, title, pts)
    bar_panel(cv, height * len(panels), bars)
    cv.write(path)


def main():
    raw, results, plot = sys.argv[1:4]
    vals, lat, by_rep, done, clock, mode = parse(raw)
    if not done or "rb" not in vals:
        print("bench: the guest did not finish", file=sys.stderr)
        return 1
    hung = [s for s in vals if vals[s].get("hung")]
    if "c" not in vals:
        vals["c"] = {}
    r = {"systems": {}, "ratios_rb_over_c": {}, "hung": hung, "clocksource": clock,
         "clock": mode}
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
    for k in HIGHER + LOWER_RB_OVER_C:
        r["ratios_rb_over_c"][k] = ratio(rb.get(k), c.get(k))
    r["ratios_c_over_rb"] = {k: ratio(c.get(k), rb.get(k)) for k in LOWER_C_OVER_RB}
    r["paired_rb_over_c"] = {k: paired(by_rep, "rb", "c", k) for k in HIGHER}
    r["paired_c_over_rb"] = {k: paired(by_rep, "c", "rb", k) for k in LOWER_C_OVER_RB}
    r["ratio_notes"] = ("ratios_rb_over_c: rbcache / C; >1.0 means rbcache is better for the "
                        "*_iops and *_mibs keys, <1.0 for gc_ms_per_node and p99_gc_over_nogc. "
                        "ratios_c_over_rb: C / rbcache for lower-is-better keys; >1.0 means "
                        "rbcache is better.")
    g = rb.get("p99_gc_over_nogc")
    r["goal_rb_p99_gc_within_2x_of_nogc"] = g is not None and g <= 2.0
    r["reps"] = max((len(v) for k, v in vals["rb"].items() if k != "hung"), default=0)
    with open(results, "w") as f:
        json.dump(r, f, indent=2, sort_keys=True)
    # Every bar oriented so that >1.0 means rbcache is better.
    bars = [(f"{k} rb/c", r["ratios_rb_over_c"][k]) for k in HIGHER]
    bars += [(f"{k} c/rb", r["ratios_c_over_rb"][k]) for k in LOWER_C_OVER_RB]
    bars += [(f"{k} c/rb", ratio(c.get(k), rb.get(k))) for k in LOWER_RB_OVER_C]
    png(plot, [("rbcache: worst write latency per 10 ms, gc windows shaded", lat.get("rb", [])),
               ("c bcache: worst write latency per 10 ms, gc windows shaded", lat.get("c", []))],
        bars)
    print(json.dumps(r["ratios_rb_over_c"], sort_keys=True))
    print(f"rbcache p99 in GC windows / outside: {g}  (goal <= 2: "
          f"{'met' if r['goal_rb_p99_gc_within_2x_of_nogc'] else 'NOT met'}); "
          f"C: {c.get('p99_gc_over_nogc')}")
    bk = [k for k in HIGHER + LOWER_C_OVER_RB if k.startswith("bk_")]
    info = [
        "bk_zipf_hit_pct",
        "bk_seqwrite_cache_mib",
        "bk_btree_bytes_per_user_byte",
        "bk_metadata_bytes_per_user_byte",
        "bk_randwrite_writeback_kb",
        "bk_randwrite_cache_writes_per_io",
        "bk_randwrite_cache_flushes_per_io",
        "bk_randwrite_fast_pct",
        "bk_randwrite_gc_passes",
        "bk_randwrite_moved_kb",
        "bk_randwrite_clat_p50_us",
        "bk_randwrite_clat_p99_us",
        "bk_randwrite_clat_max_us",
    ]
    if any(rb.get(k) is not None or c.get(k) is not None for k in bk):
        print("backing device (dm-delay), medians; ratio > 1.0 means rbcache is better:")
        print(f"  {'key':32} {'rbcache':>10} {'C':>10} {'ratio':>7}  "
              "(paired per rep: mean [95% CI], reps rbcache better, verdict)")
        for k in bk + info:
            if k in LOWER_C_OVER_RB:
                q, how = r["ratios_c_over_rb"][k], "C/rb, lower is better"
                pr = r["paired_c_over_rb"][k]
            elif k in info:
                q, how, pr = None, "info", None
            else:
                q, how = r["ratios_rb_over_c"][k], "rb/C"
                pr = r["paired_rb_over_c"][k]
            fmt = lambda v: "-" if v is None else f"{v:g}"
            if pr:
                how += (f"; paired {pr['mean']:g} [{pr['ci95'][0]:g}, {pr['ci95'][1]:g}], "
                        f"{pr['rb_better']}/{pr['reps']}, {pr['verdict']}")
            print(f"  {k:32} {fmt(rb.get(k)):>10} {fmt(c.get(k)):>10} {fmt(q):>7}  ({how})")
    print(f"clock: {mode}" + (" (guest time counts instructions: host noise is out of the "
                              "ratios)" if mode.startswith("icount") else ""))
    if clock is not None and clock != "tsc":
        print(f"bench: the guest's clocksource ended as {clock}, not tsc (the host was too busy "
              "for the TSC watchdog): latencies, the p99 ratios and the plot are in coarse "
              "steps (4 ms with jiffies); IOPS and the other ratios still compare")
    if hung:
        print(f"bench: hung (the run ended there): {', '.join(hung)}")
    print(f"results: {results}, plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A sampling profiler for the bench VM, through QEMU's monitor (scripts/profile.sh).

usage: profile.py sample SOCK OUT     samples every vCPU's RIP until the socket goes away
       profile.py report OUT RAW SYSTEM_MAP MODULE.ko...   symbolizes the samples

The guest prints "# modtext NAME ADDR" whenever it loads a module (tests/vm/bench.sh), which
places each module's .text; kernel addresses come from System.map (no KASLR in the bench
kernel). Idle samples (the guest's idle loop) are counted apart.
"""
import bisect
import collections
import os
import re
import socket
import subprocess
import sys
import time


def sample(sock_path, out):
    for _ in range(600):
        if os.path.exists(sock_path):
            break
        time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    buf = b""

    def until_prompt():
        nonlocal buf
        while b"(qemu) " not in buf:
            d = s.recv(65536)
            if not d:
                raise EOFError
            buf += d
        text, buf = buf.split(b"(qemu) ", 1)
        return text.decode(errors="replace")

    until_prompt()
    rip = re.compile(r"RIP=([0-9a-f]{16})")
    n = 0
    with open(out, "w") as f:
        try:
            while True:
                s.sendall(b"info registers -a\n")
                for r in rip.findall(until_prompt()):
                    f.write(r + "\n")
                n += 1
                time.sleep(0.002)
        except (EOFError, OSError):
            pass
    print(f"profile: {n} samples rounds", file=sys.stderr)


def text_symbols(ko):
    """(offset in .text, name) of a module's .text functions."""
    out = subprocess.run(["readelf", "-SW", ko], capture_output=True, text=True).stdout
    idx = None
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", line)
        if m and m.group(2) == ".text":
            idx = m.group(1)
    syms = []
    out = subprocess.run(["readelf", "-sW", ko], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC" and f[6] == idx:
            syms.append((int(f[1], 16), f[7]))
    return sorted(syms)


def demangle(names):
    try:
        p = subprocess.run(["rustfilt"], input="\n".join(names), capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.splitlines()
    except FileNotFoundError:
        pass
    return names


def report(out, raw, system_map, kos):
    kern = []
    with open(system_map) as f:
        for line in f:
            a, t, name = line.split()[:3]
            if t in "tTwW":
                kern.append((int(a, 16), name))
    kern.sort()
    bases = {}
    with open(raw) as f:
        for line in f:
            m = re.match(r"# modtext (\S+) 0x([0-9a-f]+)", line)
            if m:
                bases.setdefault(m.group(1), set()).add(int(m.group(2), 16))
    mods = []
    for ko in kos:
        name = os.path.basename(ko)[:-3]
        for base in bases.get(name, ()):
            syms = text_symbols(ko)
            mods.append((base, base + (syms[-1][0] + 65536 if syms else 0), name, syms))
        if len(bases.get(name, ())) > 1:
            print(f"profile: {name} loaded at {len(bases[name])} addresses", file=sys.stderr)
    counts = collections.Counter()
    owner = collections.Counter()
    with open(out) as f:
        for line in f:
            a = int(line, 16)
            where = None
            for lo, hi, name, syms in mods:
                if lo <= a < hi:
                    i = bisect.bisect_right([s[0] for s in syms], a - lo) - 1
                    where = (name, syms[i][1] if i >= 0 else "?")
                    break
            if where is None:
                i = bisect.bisect_right([k[0] for k in kern], a) - 1
                where = ("kernel", kern[i][1] if i >= 0 else "?")
            counts[where] += 1
            owner[where[0]] += 1
    total = sum(counts.values())
    idle = sum(c for (o, n), c in counts.items() if o == "kernel" and
               re.search(r"default_idle|pv_native_safe_halt|native_safe_halt|mwait|cpu_idle", n))
    print(f"samples: {total}, idle: {idle}")
    busy = max(total - idle, 1)
    for o, c in owner.most_common():
        print(f"  {o}: {c} ({100 * c / total:.1f}% of all)")
    top = [(w, c) for w, c in counts.most_common() if not (w[0] == "kernel" and re.search(
        r"default_idle|safe_halt|mwait|cpu_idle", w[1]))][:60]
    names = demangle([w[1] for w, _ in top])
    print(f"top functions (% of busy samples):")
    for ((o, _), c), n in zip(top, names):
        print(f"  {100 * c / busy:5.1f}%  {o:8} {n[:150]}")


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3])
    else:
        report(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A disk that loses what it was not told to keep: an NBD server with a volatile write cache.

QEMU reaches it as an `nbd` drive over a unix socket, and the guest sees a virtio disk with a
volatile write cache (it sends flushes). Every write lands in the image at once, so reads see
it, but until a FLUSH (or, for that write alone, FUA) it is also kept in a log with the data it
replaced. When the connection ends without a clean flush of everything (QEMU killed: the power
cut), the log decides what the platters hold: every logged write is undone, then a random
subset of them, in their original order, is written again (FUA writes always). Each write is
logged in 4 KiB pieces, each kept or lost on its own, as a disk may tear a large write.

The probability of keeping a piece is drawn once per cut (uniform in [0, 1]) from --seed, so
some cuts keep almost everything unflushed and others almost nothing. The cut's numbers go to
--stats as one JSON line (appended).

    pdisk.py --socket S --image IMG --seed N [--stats FILE] [--name NAME]

It serves one connection (one boot), then applies the cut and exits.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_REPLY = 0x67446698

FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_INFO, OPT_GO = 1, 2, 6, 7
REP_ACK, REP_INFO = 1, 3
REP_ERR_UNSUP = (1 << 31) + 1
INFO_EXPORT = 0
TF_HAS_FLAGS, TF_SEND_FLUSH, TF_SEND_FUA, TF_SEND_TRIM, TF_SEND_WRITE_ZEROES = 1, 4, 8, 32, 64
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_WRITE_ZEROES = 0, 1, 2, 3, 4, 6
CMD_FLAG_FUA = 1
PIECE = 4096
EIO, EINVAL = 5, 22


def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


class Disk:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        # (offset, old bytes, new bytes, durable) for every piece written since the last flush.
        self.log = []
        self.stats = {"writes": 0, "flushes": 0, "fua": 0, "max_unflushed": 0}

    def write(self, off, data, fua):
        self.stats["writes"] += 1
        if fua:
            self.stats["fua"] += 1
        pos = 0
        while pos < len(data):
            n = min(PIECE - (off + pos) % PIECE, len(data) - pos)
            old = os.pread(self.fd, n, off + pos)
            new = data[pos:pos + n]
            os.pwrite(self.fd, new, off + pos)
            self.log.append((off + pos, old, new, fua))
            pos += n
        self.stats["max_unflushed"] = max(self.stats["max_unflushed"], len(self.log))

    def flush(self):
        self.stats["flushes"] += 1
        self.log.clear()

    def cut(self, rng):
        keep_p = rng.random()
        for off, old, _new, _d in reversed(self.log):
            os.pwrite(self.fd, old, off)
        kept = lost = 0
        for off, _old, new, durable in self.log:
            if durable:
                os.pwrite(self.fd, new, off)
            elif rng.random() < keep_p:
                os.pwrite(self.fd, new, off)
                kept += 1
            else:
                lost += 1
        os.fsync(self.fd)
        self.stats.update({"keep_p": round(keep_p, 3), "unflushed_kept": kept,
                           "unflushed_lost": lost})
        self.log.clear()


def negotiate(conn, disk):
    conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
    (cflags,) = struct.unpack(">I", recv_exact(conn, 4))
    tflags = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_TRIM | TF_SEND_WRITE_ZEROES
    while True:
        magic, opt, length = struct.unpack(">QII", recv_exact(conn, 16))
        if magic != IHAVEOPT:
            raise EOFError
        data = recv_exact(conn, length) if length else b""

        def reply(rtype, payload=b""):
            conn.sendall(struct.pack(">QIII", REPLY_MAGIC, opt, rtype, len(payload)) + payload)

        if opt == OPT_EXPORT_NAME:
            tail = b"" if cflags & FLAG_NO_ZEROES else bytes(124)
            conn.sendall(struct.pack(">QH", disk.size, tflags) + tail)
            return
        if opt in (OPT_GO, OPT_INFO):
            reply(REP_INFO, struct.pack(">HQH", INFO_EXPORT, disk.size, tflags))
            reply(REP_ACK)
            if opt == OPT_GO:
                return
        elif opt == OPT_ABORT:
            reply(REP_ACK)
            raise EOFError
        else:
            reply(REP_ERR_UNSUP)


def serve(conn, disk):
    negotiate(conn, disk)
    while True:
        magic, flags, cmd, handle, off, length = struct.unpack(">IHHQQI", recv_exact(conn, 28))
        if magic != REQ_MAGIC:
            return
        err = 0
        payload = b""
        in_range = off + length <= disk.size
        if cmd == CMD_READ:
            if in_range:
                payload = os.pread(disk.fd, length, off)
            else:
                err = EINVAL
        elif cmd in (CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES):
            data = recv_exact(conn, length) if cmd == CMD_WRITE else bytes(length)
            if in_range:
                disk.write(off, data, bool(flags & CMD_FLAG_FUA))
            else:
                err = EINVAL
        elif cmd == CMD_FLUSH:
            disk.flush()
        elif cmd == CMD_DISC:
            return
        else:
            err = EINVAL
        conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY, err, handle) + payload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--stats")
    ap.add_argument("--name", default="")
    a = ap.parse_args()
    disk = Disk(a.image)
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(a.socket)
    srv.listen(1)
    conn, _ = srv.accept()
    try:
        serve(conn, disk)
    except (EOFError, ConnectionError):
        pass
    conn.close()
    srv.close()
    os.unlink(a.socket)
    disk.cut(random.Random(a.seed))
    if a.stats:
        with open(a.stats, "a") as f:
            f.write(json.dumps(dict(disk=a.name, seed=a.seed, **disk.stats)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

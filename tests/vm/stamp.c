// SPDX-License-Identifier: GPL-2.0
/*
 * stamp: stamped 4 KiB blocks for the power-cut tests (built static on the host, run in the VM).
 *
 *   stamp write DEV OFF NBLOCKS TAG BOOT BATCH SEED
 *       Random O_DIRECT writes of stamped blocks to NBLOCKS 4 KiB blocks of DEV from byte OFF,
 *       fdatasync() after every BATCH writes, until killed. Only after an fdatasync() returns
 *       are that batch's writes printed, one "A TAG BLOCK SEQ" line each, on stdout: the
 *       acknowledged writes. SEQ is BOOT << 32 | a counter, so later boots write newer SEQs.
 *   stamp verify DEV OFF NBLOCKS TAG < ACKS
 *       Reads every block back (O_DIRECT). A block acknowledged at SEQ must hold a valid
 *       stamp of that block with a SEQ at least as new (the acknowledged write or a newer
 *       one); any block must hold zeros or a valid stamp of itself, never anything else.
 *       Prints "checked N acked, L lost, F foreign, W newer" and exits 1 on any lost or
 *       foreign block (the first ones are described).
 *
 * A stamp: magic, tag, block, seq, then 508 words derived from (tag, block, seq, index).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS 4096
#define WORDS (BS / 8)
#define MAGIC 0x31504d4154534252ULL /* "RBSTAMP1" */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static void fill(uint64_t *w, uint64_t tag, uint64_t block, uint64_t seq)
{
	w[0] = MAGIC;
	w[1] = tag;
	w[2] = block;
	w[3] = seq;
	for (int i = 4; i < WORDS; i++)
		w[i] = mix(tag * 0x9e3779b97f4a7c15ULL ^ mix(block ^ mix(seq + i)));
}

/* 0: zeros; 1: a valid stamp of (tag, block), its seq in *seq; -1: anything else. */
static int classify(const uint64_t *w, uint64_t tag, uint64_t block, uint64_t *seq)
{
	static uint64_t want[WORDS];
	int zero = 1;

	for (int i = 0; i < WORDS; i++)
		if (w[i]) {
			zero = 0;
			break;
		}
	if (zero)
		return 0;
	if (w[0] != MAGIC || w[1] != tag || w[2] != block)
		return -1;
	fill(want, tag, block, w[3]);
	if (memcmp(want, w, BS))
		return -1;
	*seq = w[3];
	return 1;
}

static int open_dev(const char *dev)
{
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0) {
		fprintf(stderr, "stamp: open %s: %s\n", dev, strerror(errno));
		exit(2);
	}
	return fd;
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static int do_write(char **av)
{
	int fd = open_dev(av[0]);
	uint64_t off = num(av[1]), n = num(av[2]), tag = num(av[3]), boot = num(av[4]);
	uint64_t batch = num(av[5]), rng = mix(num(av[6]) + boot), ctr = 0;
	uint64_t *buf, *blk = calloc(batch, 8), *seqs = calloc(batch, 8);

	if (posix_memalign((void **)&buf, BS, BS) || !blk || !seqs || !n || !batch)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		for (uint64_t i = 0; i < batch; i++) {
			rng = mix(rng + 0x9e3779b97f4a7c15ULL);
			blk[i] = rng % n;
			seqs[i] = boot << 32 | ++ctr;
			fill(buf, tag, blk[i], seqs[i]);
			if (pwrite(fd, buf, BS, off + blk[i] * BS) != BS) {
				fprintf(stderr, "stamp: write block %" PRIu64 ": %s\n", blk[i],
					strerror(errno));
				return 1;
			}
		}
		if (fdatasync(fd)) {
			fprintf(stderr, "stamp: fdatasync: %s\n", strerror(errno));
			return 1;
		}
		for (uint64_t i = 0; i < batch; i++)
			printf("A %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", tag, blk[i], seqs[i]);
	}
}

static int do_verify(char **av)
{
	int fd = open_dev(av[0]);
	uint64_t off = num(av[1]), n = num(av[2]), tag = num(av[3]);
	uint64_t *acked = calloc(n, 8), *buf, t, b, s, seq;
	uint64_t nacked = 0, lost = 0, foreign = 0, newer = 0, stamped = 0;
	char line[128];

	if (posix_memalign((void **)&buf, BS, BS) || !acked)
		return 2;
	while (fgets(line, sizeof(line), stdin))
		if (sscanf(line, "A %" SCNu64 " %" SCNu64 " %" SCNu64, &t, &b, &s) == 3 && t == tag &&
		    b < n && s > acked[b])
			acked[b] = s;
	for (b = 0; b < n; b++) {
		if (pread(fd, buf, BS, off + b * BS) != BS) {
			fprintf(stderr, "stamp: read block %" PRIu64 ": %s\n", b, strerror(errno));
			return 1;
		}
		int c = classify(buf, tag, b, &seq);

		if (acked[b])
			nacked++;
		if (c == 1)
			stamped++;
		if (c < 0) {
			if (foreign++ < 5)
				printf("# block %" PRIu64 " (acked seq %#" PRIx64 ") holds foreign data: "
				       "words %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
				       b, acked[b], buf[0], buf[1], buf[2], buf[3]);
		} else if (acked[b] && (c == 0 || seq < acked[b])) {
			if (lost++ < 5)
				printf("# block %" PRIu64 " lost acked seq %#" PRIx64 ": holds %s %#" PRIx64 "\n",
				       b, acked[b], c ? "older seq" : "zeros", c ? seq : 0);
		} else if (acked[b] && seq > acked[b]) {
			newer++;
		}
	}
	printf("checked %" PRIu64 " acked blocks (%" PRIu64 " stamped of %" PRIu64 "): %" PRIu64
	       " lost, %" PRIu64 " foreign, %" PRIu64 " newer than acked\n",
	       nacked, stamped, n, lost, foreign, newer);
	return lost || foreign;
}

int main(int ac, char **av)
{
	if (ac == 9 && !strcmp(av[1], "write"))
		return do_write(av + 2);
	if (ac == 6 && !strcmp(av[1], "verify"))
		return do_verify(av + 2);
	fprintf(stderr, "usage: stamp write DEV OFF NBLOCKS TAG BOOT BATCH SEED | "
			"stamp verify DEV OFF NBLOCKS TAG < ACKS\n");
	return 2;
}

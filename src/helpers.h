/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rbcache C helpers: the static inlines, macros and attribute tables that Rust cannot reach
 * through the 6.12 bindings. No logic lives here; every symbol is prefixed rbcache_.
 */
#ifndef RBCACHE_HELPERS_H
#define RBCACHE_HELPERS_H

#include <linux/blkdev.h>
#include <linux/sysfs.h>

sector_t rbcache_bdev_nr_sectors(struct block_device *bdev);
unsigned int rbcache_bdev_logical_block_size(struct block_device *bdev);
blk_mode_t rbcache_blk_open_rw_excl(void);
blk_opf_t rbcache_req_read_meta(void);
blk_opf_t rbcache_req_write_meta(void);
blk_opf_t rbcache_req_write_meta_flush_fua(void);

/* Attribute groups of the sysfs directories; the files' show/store live in Rust. */
extern const struct attribute_group rbcache_root_group;
extern const struct attribute_group rbcache_set_group;
extern const struct attribute_group rbcache_internal_group;

#endif /* RBCACHE_HELPERS_H */

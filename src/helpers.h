/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rbcache C helpers: the static inlines, macros and attribute tables that Rust cannot reach
 * through the 6.12 bindings. No logic lives here; every symbol is prefixed rbcache_.
 */
#ifndef RBCACHE_HELPERS_H
#define RBCACHE_HELPERS_H

#include <linux/blkdev.h>
#include <linux/sysfs.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

sector_t rbcache_bdev_nr_sectors(struct block_device *bdev);
struct kobject *rbcache_bdev_kobj(struct block_device *bdev);
struct kobject *rbcache_disk_kobj(struct gendisk *disk);
unsigned int rbcache_bdev_logical_block_size(struct block_device *bdev);
unsigned int rbcache_bdev_io_opt(struct block_device *bdev);
blk_mode_t rbcache_blk_open_rw_excl(void);
blk_opf_t rbcache_req_read_meta(void);
blk_opf_t rbcache_req_write(void);
blk_opf_t rbcache_req_write_meta(void);
blk_opf_t rbcache_req_write_meta_fua(void);
blk_opf_t rbcache_req_write_meta_flush_fua(void);
blk_opf_t rbcache_req_preflush(void);
blk_opf_t rbcache_req_fua(void);

struct gendisk *rbcache_alloc_disk(unsigned int block_bytes);
void rbcache_bio_iter_bvec(struct bio *bio, struct bvec_iter *iter, struct bio_vec *bv);
void rbcache_bio_advance_iter(struct bio *bio, struct bvec_iter *iter, unsigned int bytes);
enum req_op rbcache_bio_op(struct bio *bio);
bool rbcache_bio_wants_flush(struct bio *bio);
bool rbcache_bio_readahead(struct bio *bio);
bool rbcache_bio_sync(struct bio *bio);
gfp_t rbcache_gfp_noio(void);
struct ida *rbcache_device_ida(void);
unsigned int rbcache_memalloc_noio_save(void);
void rbcache_memalloc_noio_restore(unsigned int flags);
void rbcache_lockdep_submit_enter(void);
void rbcache_lockdep_submit_exit(void);
void rbcache_init_completion(struct completion *done);
void rbcache_init_waitqueue_head(struct wait_queue_head *wq);
void rbcache_init_work(struct work_struct *work, work_func_t func);
bool rbcache_queue_work(struct workqueue_struct *wq, struct work_struct *work);

/* Implemented in Rust (kabi/disk.rs): the submit_bio entry of rbcache's disks. */
void rbcache_disk_submit_bio(struct bio *bio);
extern const struct block_device_operations rbcache_disk_fops;

/* Attribute groups of the sysfs directories; the files' show/store live in Rust. */
extern const struct attribute_group rbcache_root_group;
extern const struct attribute_group rbcache_set_group;
extern const struct attribute_group rbcache_internal_group;
extern const struct attribute_group rbcache_cache_group;
extern const struct attribute_group rbcache_volume_group;
extern const struct attribute_group rbcache_backing_group;
extern const struct attribute_group rbcache_stats_group;

#endif /* RBCACHE_HELPERS_H */

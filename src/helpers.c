// SPDX-License-Identifier: GPL-2.0
/*
 * rbcache C helpers: static inlines and macros wrapped as functions, and sysfs attribute
 * tables. Keep it small and free of logic: everything else is Rust.
 */
#include <linux/bio.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include "helpers.h"

sector_t rbcache_bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}

struct kobject *rbcache_bdev_kobj(struct block_device *bdev)
{
	return bdev_kobj(bdev);
}

struct kobject *rbcache_disk_kobj(struct gendisk *disk)
{
	return &disk_to_dev(disk)->kobj;
}

unsigned int rbcache_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}

unsigned int rbcache_bdev_io_opt(struct block_device *bdev)
{
	return bdev_io_opt(bdev);
}

blk_mode_t rbcache_blk_open_rw_excl(void)
{
	return BLK_OPEN_READ | BLK_OPEN_WRITE | BLK_OPEN_EXCL;
}

blk_opf_t rbcache_req_read_meta(void)
{
	return REQ_OP_READ | REQ_SYNC | REQ_META;
}

blk_opf_t rbcache_req_write(void)
{
	return REQ_OP_WRITE | REQ_SYNC;
}

blk_opf_t rbcache_req_write_meta(void)
{
	return REQ_OP_WRITE | REQ_SYNC | REQ_META;
}

blk_opf_t rbcache_req_preflush(void)
{
	return REQ_OP_WRITE | REQ_PREFLUSH;
}

blk_opf_t rbcache_req_write_meta_fua(void)
{
	return REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_FUA;
}

blk_opf_t rbcache_req_write_meta_flush_fua(void)
{
	return REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_PREFLUSH | REQ_FUA;
}

blk_opf_t rbcache_req_fua(void)
{
	return REQ_FUA;
}

struct gendisk *rbcache_alloc_disk(unsigned int block_bytes)
{
	struct queue_limits lim = {
		.logical_block_size = block_bytes,
		.physical_block_size = block_bytes,
		.io_min = block_bytes,
		.max_hw_discard_sectors = UINT_MAX,
		.discard_granularity = block_bytes,
		/* Writes complete before they are durable: flushes and FUA must reach us. */
		.features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
}

void rbcache_bio_iter_bvec(struct bio *bio, struct bvec_iter *iter, struct bio_vec *bv)
{
	*bv = bio_iter_iovec(bio, *iter);
}

void rbcache_bio_advance_iter(struct bio *bio, struct bvec_iter *iter, unsigned int bytes)
{
	bio_advance_iter_single(bio, iter, bytes);
}

enum req_op rbcache_bio_op(struct bio *bio)
{
	return bio_op(bio);
}

bool rbcache_bio_wants_flush(struct bio *bio)
{
	return bio->bi_opf & (REQ_PREFLUSH | REQ_FUA);
}

bool rbcache_bio_sync(struct bio *bio)
{
	return op_is_sync(bio->bi_opf) || (bio->bi_opf & (REQ_META | REQ_PRIO));
}

bool rbcache_bio_readahead(struct bio *bio)
{
	return (bio->bi_opf & (REQ_RAHEAD | REQ_BACKGROUND)) &&
	       !(bio->bi_opf & (REQ_META | REQ_PRIO));
}

void rbcache_init_completion(struct completion *done)
{
	init_completion(done);
}

void rbcache_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

void rbcache_init_work(struct work_struct *work, work_func_t func)
{
	INIT_WORK(work, func);
}

bool rbcache_queue_work(struct workqueue_struct *wq, struct work_struct *work)
{
	return queue_work(wq, work);
}

gfp_t rbcache_gfp_noio(void)
{
	return GFP_NOIO;
}

/* The numbers N of /dev/bcacheN (6.12's bcache_device_idx). */
static DEFINE_IDA(rbcache_device_idx);

struct ida *rbcache_device_ida(void)
{
	return &rbcache_device_idx;
}

unsigned int rbcache_memalloc_noio_save(void)
{
	return memalloc_noio_save();
}

void rbcache_memalloc_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

/*
 * Lockdep: the map stands for "inside rbcache_disk_submit_bio" (see kabi/noio.rs).
 */
#ifdef CONFIG_LOCKDEP
static struct lockdep_map rbcache_submit_map =
	STATIC_LOCKDEP_MAP_INIT("rbcache_submit_bio", &rbcache_submit_map);
#endif

void rbcache_lockdep_submit_enter(void)
{
#ifdef CONFIG_LOCKDEP
	lock_map_acquire(&rbcache_submit_map);
#endif
}

void rbcache_lockdep_submit_exit(void)
{
#ifdef CONFIG_LOCKDEP
	lock_map_release(&rbcache_submit_map);
#endif
}

const struct block_device_operations rbcache_disk_fops = {
	.owner = THIS_MODULE,
	.submit_bio = rbcache_disk_submit_bio,
};

#define RB_ATTR(_name, _mode)						\
	static struct attribute rbcache_attr_##_name = {		\
		.name = __stringify(_name), .mode = (_mode),		\
	}
#define RB_RO(_name)	RB_ATTR(_name, 0444)
#define RB_WO(_name)	RB_ATTR(_name, 0200)
#define RB_RW(_name)	RB_ATTR(_name, 0644)
#define RB_A(_name)	(&rbcache_attr_##_name)

/* /sys/fs/bcache/ */
RB_WO(register);
RB_WO(register_quiet);
RB_WO(pendings_cleanup);

static struct attribute *rbcache_root_attrs[] = {
	RB_A(register), RB_A(register_quiet), RB_A(pendings_cleanup), NULL,
};

const struct attribute_group rbcache_root_group = { .attrs = rbcache_root_attrs };

/* /sys/fs/bcache/<set-uuid>/ */
RB_WO(unregister);
RB_WO(stop);
RB_RO(block_size);
RB_RO(bucket_size);
RB_RW(synchronous);
RB_RO(tree_depth);
RB_RO(cache_available_percent);
RB_WO(flash_vol_create);
RB_RO(btree_cache_size);
RB_RO(root_usage_percent);
RB_RO(average_key_size);
RB_RW(journal_delay_ms);
RB_WO(clear_stats);
RB_RO(congested);
RB_RW(congested_read_threshold_us);
RB_RW(congested_write_threshold_us);
RB_RW(errors);
RB_RW(io_error_limit);
RB_RW(io_error_halflife);

static struct attribute *rbcache_set_attrs[] = {
	RB_A(unregister), RB_A(stop), RB_A(block_size), RB_A(bucket_size),
	RB_A(synchronous), RB_A(tree_depth), RB_A(cache_available_percent),
	RB_A(flash_vol_create), RB_A(btree_cache_size), RB_A(root_usage_percent),
	RB_A(average_key_size), RB_A(journal_delay_ms), RB_A(clear_stats),
	RB_A(congested), RB_A(congested_read_threshold_us),
	RB_A(congested_write_threshold_us), RB_A(errors), RB_A(io_error_limit),
	RB_A(io_error_halflife), NULL,
};

const struct attribute_group rbcache_set_group = { .attrs = rbcache_set_attrs };

/* /sys/fs/bcache/<set-uuid>/internal/ */
RB_WO(trigger_gc);
RB_RW(io_disable);
RB_RO(btree_gc_average_duration_ms);
RB_RO(btree_gc_average_frequency_sec);
RB_RO(btree_gc_last_sec);
RB_RO(btree_gc_max_duration_ms);
RB_RO(gc_passes);
RB_RO(gc_running);
RB_RO(gc_wakeups_sysfs);
RB_RO(gc_wakeups_allocator);
RB_RO(gc_wakeups_write);
RB_RO(gc_wakeups_writeback);
RB_RO(gc_wakeups_full);
RB_RW(gc_after_writeback);
RB_RO(btree_nodes);
RB_RO(active_journal_entries);
RB_RO(root_writes);
RB_RW(copy_gc_enabled);
RB_RW(gc_yield_ms);
RB_RW(gc_step_keys);
RB_RW(moving_gc_batch);
RB_RO(gc_yields);
RB_RO(gc_last_nodes);
RB_RO(gc_last_keys);
RB_RO(gc_last_free_buckets);
RB_RO(gc_last_coalesced);
RB_RO(gc_last_rewritten);
RB_RO(gc_aborted);
RB_RO(gc_check);
RB_RO(moving_gc_keys);
RB_RO(moving_gc_sectors);
RB_RO(moving_gc_races);
RB_RO(moving_gc_buckets_freed);
RB_RO(btree_nodes_written);
RB_RO(prio_writes);
RB_RO(buckets_invalidated);
RB_RO(gen_wraps);
RB_RO(read_races);
RB_RO(fast_read_retries);
RB_RO(fast_writes);
RB_RO(empty_invalidations);
RB_RO(read_errors_recovered);
RB_RO(journal_flushes);
RB_RO(journal_writes);
RB_RW(btree_cache_limit);
RB_RO(btree_cache_loads);
RB_RO(btree_cache_evictions);
RB_RO(shrinker_scans);
RB_RO(shrinker_evictions);
RB_RO(cache_read_races);
RB_RO(cutoff_writeback);
RB_RO(cutoff_writeback_sync);
RB_RO(feature_compat);
RB_RO(feature_ro_compat);
RB_RO(feature_incompat);
RB_RW(idle_max_writeback_rate);
RB_RO(reclaim);
RB_RO(reclaimed_journal_buckets);
RB_RO(flush_write);
RB_RO(writeback_keys_done);
RB_RO(writeback_keys_failed);

static struct attribute *rbcache_internal_attrs[] = {
	RB_A(trigger_gc),
	RB_A(io_disable),
	RB_A(btree_gc_average_duration_ms),
	RB_A(btree_gc_average_frequency_sec),
	RB_A(btree_gc_last_sec),
	RB_A(btree_gc_max_duration_ms),
	RB_A(gc_passes),
	RB_A(gc_running),
	RB_A(gc_wakeups_sysfs),
	RB_A(gc_wakeups_allocator),
	RB_A(gc_wakeups_write),
	RB_A(gc_wakeups_writeback),
	RB_A(gc_wakeups_full),
	RB_A(gc_after_writeback),
	RB_A(btree_nodes),
	RB_A(active_journal_entries),
	RB_A(root_writes),
	RB_A(copy_gc_enabled),
	RB_A(gc_yield_ms),
	RB_A(gc_step_keys),
	RB_A(moving_gc_batch),
	RB_A(gc_yields),
	RB_A(gc_last_nodes),
	RB_A(gc_last_keys),
	RB_A(gc_last_free_buckets),
	RB_A(gc_last_coalesced),
	RB_A(gc_last_rewritten),
	RB_A(gc_aborted),
	RB_A(gc_check),
	RB_A(moving_gc_keys),
	RB_A(moving_gc_sectors),
	RB_A(moving_gc_races),
	RB_A(moving_gc_buckets_freed),
	RB_A(btree_nodes_written),
	RB_A(prio_writes),
	RB_A(buckets_invalidated),
	RB_A(gen_wraps),
	RB_A(read_races),
	RB_A(fast_read_retries),
	RB_A(fast_writes),
	RB_A(empty_invalidations),
	RB_A(read_errors_recovered),
	RB_A(journal_flushes),
	RB_A(journal_writes),
	RB_A(btree_cache_limit),
	RB_A(btree_cache_loads),
	RB_A(btree_cache_evictions),
	RB_A(shrinker_scans),
	RB_A(shrinker_evictions),
	RB_A(cache_read_races),
	RB_A(cutoff_writeback),
	RB_A(cutoff_writeback_sync),
	RB_A(feature_compat),
	RB_A(feature_ro_compat),
	RB_A(feature_incompat),
	RB_A(idle_max_writeback_rate),
	RB_A(reclaim),
	RB_A(reclaimed_journal_buckets),
	RB_A(flush_write),
	RB_A(writeback_keys_done),
	RB_A(writeback_keys_failed),
	NULL,
};

const struct attribute_group rbcache_internal_group = { .attrs = rbcache_internal_attrs };

/* /sys/block/<cache device>/bcache/ */
RB_RO(nbuckets);
RB_RO(discard);
RB_RW(cache_replacement_policy);
RB_RO(priority_stats);

RB_RO(written);
RB_RO(btree_written);
RB_RO(metadata_written);
RB_RO(io_errors);

static struct attribute *rbcache_cache_attrs[] = {
	RB_A(bucket_size), RB_A(block_size), RB_A(nbuckets), RB_A(discard),
	RB_A(cache_replacement_policy), RB_A(priority_stats), RB_A(written), RB_A(btree_written),
	RB_A(metadata_written), RB_A(io_errors), RB_A(clear_stats), NULL,
};

const struct attribute_group rbcache_cache_group = { .attrs = rbcache_cache_attrs };

/* /sys/block/bcacheN/bcache/ of a flash-only volume */
RB_RO(size);
RB_RW(label);

static struct attribute *rbcache_volume_attrs[] = {
	RB_A(size), RB_A(label), RB_A(unregister), NULL,
};

const struct attribute_group rbcache_volume_group = { .attrs = rbcache_volume_attrs };

/* /sys/block/<backing device>/bcache/ (label and stop are shared with the tables above) */
RB_RW(cache_mode);
RB_RO(state);
RB_RW(running);
RB_RW(sequential_cutoff);
RB_RO(dirty_data);
RB_RO(data_offset);
RB_WO(attach);
RB_WO(detach);
RB_RW(writeback_running);
RB_RW(writeback_delay);
RB_RW(writeback_percent);
RB_RO(writeback_rate_debug);
RB_RW(writeback_rate);
RB_RW(writeback_rate_update_seconds);
RB_RW(writeback_rate_p_term_inverse);
RB_RW(writeback_rate_i_term_inverse);
RB_RW(writeback_rate_minimum);
RB_RW(writeback_rate_fp_term_low);
RB_RW(writeback_rate_fp_term_mid);
RB_RW(writeback_rate_fp_term_high);
RB_RW(writeback_consider_fragment);
RB_RW(writeback_metadata);
RB_RW(readahead_cache_policy);
RB_RW(stop_when_cache_set_failed);
RB_RO(stripe_size);
RB_RO(partial_stripes_expensive);
RB_RO(backing_dev_name);
RB_RO(backing_dev_uuid);

static struct attribute *rbcache_backing_attrs[] = {
	RB_A(backing_dev_name), RB_A(backing_dev_uuid),
	RB_A(cache_mode), RB_A(state), RB_A(running), RB_A(label), RB_A(sequential_cutoff),
	RB_A(dirty_data), RB_A(data_offset), RB_A(attach), RB_A(detach), RB_A(stop),
	RB_A(clear_stats), RB_A(writeback_running), RB_A(writeback_delay),
	RB_A(writeback_percent), RB_A(writeback_rate_debug), RB_A(writeback_rate),
	RB_A(writeback_rate_update_seconds), RB_A(writeback_rate_p_term_inverse),
	RB_A(writeback_rate_i_term_inverse), RB_A(writeback_rate_minimum),
	RB_A(readahead_cache_policy), RB_A(stripe_size), RB_A(partial_stripes_expensive),
	RB_A(writeback_rate_fp_term_low), RB_A(writeback_rate_fp_term_mid),
	RB_A(writeback_rate_fp_term_high), RB_A(writeback_consider_fragment),
	RB_A(writeback_metadata), RB_A(stop_when_cache_set_failed), RB_A(io_errors),
	RB_A(io_error_limit), RB_A(io_disable), NULL,
};

const struct attribute_group rbcache_backing_group = { .attrs = rbcache_backing_attrs };

/* stats_total/ etc. of a backing device (/sys/block/<dev>/bcache/) and of a cache set */
RB_RO(cache_hits);
RB_RO(cache_misses);
RB_RO(cache_bypass_hits);
RB_RO(cache_bypass_misses);
RB_RO(cache_miss_collisions);
RB_RO(bypassed);
RB_RO(cache_hit_ratio);

static struct attribute *rbcache_stats_attrs[] = {
	RB_A(cache_hits), RB_A(cache_misses), RB_A(cache_bypass_hits), RB_A(cache_bypass_misses),
	RB_A(cache_miss_collisions), RB_A(bypassed), RB_A(cache_hit_ratio), NULL,
};

const struct attribute_group rbcache_stats_group = { .attrs = rbcache_stats_attrs };

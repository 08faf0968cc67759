/* virtio-balloon: inflate/deflate, statistics, free page hinting and reporting, as Firecracker. */
#ifndef BRASA_DEVICES_VIRTIO_BALLOON_VIRTIO_BALLOON_H
#define BRASA_DEVICES_VIRTIO_BALLOON_VIRTIO_BALLOON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "devices/virtio/virtio.h"

/* Firecracker's queue size for every balloon queue (FIRECRACKER_MAX_QUEUE_SIZE). */
#define BALLOON_QUEUE_SIZE 256

/* The device's id in the device table and its logs (Firecracker's BALLOON_DEV_ID). */
#define BALLOON_DEV_ID "balloon"

/* Pages (4 KiB) of one inflate descriptor, and the PFNs gathered before they are coalesced. */
#define BALLOON_MAX_PAGES_IN_DESC 256
#define BALLOON_PFN_BUFFER        2048

/* The stats tags Firecracker knows (VIRTIO_BALLOON_S_SWAP_IN .. S_DIRECT_RECLAIM). */
#define BALLOON_NR_TAGS 16

/* The largest stats buffer read (Firecracker's MAX_STATS_DESC_LEN: 256 tags of 10 bytes). */
#define BALLOON_MAX_STATS_LEN (256u * 10u)

/* Feature bits (virtio 1.x 5.5.3) Firecracker offers. */
#define BALLOON_F_STATS_VQ            1
#define BALLOON_F_DEFLATE_ON_OOM      2
#define BALLOON_F_FREE_PAGE_HINT      3
#define BALLOON_F_FREE_PAGE_REPORTING 5

/* The free page hinting commands with a fixed meaning (Firecracker's FREE_PAGE_HINT_*). */
#define BALLOON_HINT_CMD_STOP 0u
#define BALLOON_HINT_CMD_DONE 1u

/* What the balloon is made from (Firecracker's BalloonDeviceConfig). */
struct balloon_params {
        uint32_t amount_mib;
        bool deflate_on_oom;
        uint16_t stats_polling_interval_s; /* 0: no statistics queue */
        bool free_page_hinting;
        bool free_page_reporting;
};

/* Gives guest RAM back to the host: madvise(MADV_DONTNEED); tests replace it. */
typedef int (*balloon_discard_fn)(void *hva, size_t len);

struct virtio_balloon {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        struct evloop *loop;   /* NULL in unit tests */
        int timer_fd;          /* the statistics timer, -1 without statistics */
        struct ev_source timer_src;
        bool timer_armed;
        balloon_discard_fn discard;
        /* the config space, as the driver sees it (little-endian, 12 bytes) */
        uint32_t num_pages, actual_pages, hint_cmd_id;
        uint16_t stats_interval_s;
        unsigned int hint_q, report_q; /* queue indexes; valid when the feature is offered */
        /* statistics: the buffer held until the timer fires, the latest values */
        bool stats_desc_held;
        uint16_t stats_desc;
        uint32_t stats_seen; /* bit per tag: the guest reported it */
        uint64_t stats[BALLOON_NR_TAGS];
        /* free page hinting */
        uint32_t host_cmd, last_cmd_id, guest_cmd;
        bool has_guest_cmd, ack_on_finish;
        uint32_t pfns[BALLOON_PFN_BUFFER];
        uint32_t run_start[BALLOON_PFN_BUFFER], run_len[BALLOON_PFN_BUFFER];
        struct virtq_chain chain; /* scratch for the chain being handled */
};

/*
 * Creates the balloon with Firecracker's queues (inflate, deflate, then stats, hinting and
 * reporting when configured) and, with statistics, its timerfd, watched in loop when not
 * NULL (VMM thread). Returns 0, -EINVAL (amount_mib above u32::MAX / 256) or -errno with one
 * line in e.
 */
int virtio_balloon_create(struct virtio_balloon **out, const struct balloon_params *p,
                          const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* Stops watching the timer, closes everything, frees b (NULL: no-op). Also its dev's destroy. */
void virtio_balloon_destroy(struct virtio_balloon *b);

/* The configuration the device has now (Firecracker's Balloon::config()). Takes the lock. */
void virtio_balloon_config(struct virtio_balloon *b, struct balloon_params *out);

/*
 * PATCH /balloon: a new target in MiB, then a config interrupt. Returns 0, -EAGAIN (not
 * activated) or -EINVAL (above the guest's memory), with Firecracker's words in e.
 */
int virtio_balloon_update_size(struct virtio_balloon *b, uint32_t amount_mib, struct err *e);

/*
 * PATCH /balloon/statistics: returns the held buffer at once and re-arms the timer. Returns 0
 * or -EINVAL when statistics would be switched on or off, with Firecracker's words in e.
 */
int virtio_balloon_update_interval(struct virtio_balloon *b, uint16_t interval_s, struct err *e);

/*
 * GET /balloon/statistics: Firecracker's BalloonStats object (new reference) in *out.
 * Returns 0 or -ENOTSUP (statistics disabled) with Firecracker's words in e.
 */
int virtio_balloon_stats(struct virtio_balloon *b, json_t **out, struct err *e);

/*
 * The hinting routes (start with acknowledge_on_stop, status into *out, stop). Return 0,
 * -ENOTSUP (hinting not offered) or -EAGAIN (not activated) with Firecracker's words in e.
 */
int virtio_balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop, struct err *e);
int virtio_balloon_hint_status(struct virtio_balloon *b, json_t **out, struct err *e);
int virtio_balloon_hint_stop(struct virtio_balloon *b, struct err *e);

/* The statistics timer fired (VMM thread): hands the held buffer back to the guest. */
void virtio_balloon_timer_event(struct virtio_balloon *b);

/*
 * Coalesces pfns[0..n) (sorted in place, duplicates dropped) into runs written to
 * start[]/len[] (room for n each). Returns the number of runs (Firecracker's
 * compact_page_frame_numbers()).
 */
size_t balloon_compact_pfns(uint32_t *pfns, size_t n, uint32_t *start, uint32_t *len);

#endif

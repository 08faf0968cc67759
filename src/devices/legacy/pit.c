/* The 8254 PIT model: counters derived from each channel's load time, channel 0's timer armed. */
#include "devices/legacy/pit.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "arch/x86_64/layout.h"

/* Read/write states of a channel: which byte the next access of its port moves. */
enum { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

#define MODE_UNSET 0xff /* no control word yet (KVM's reset value) */
#define NSEC       1000000000ull

static uint64_t monotonic_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* Input-clock ticks since c's count was loaded (or its gate rose). */
static uint64_t ticks(const struct pit *p, const struct kvm_pit_channel_state *c)
{
        uint64_t now = p->now(), t0 = (uint64_t)c->count_load_time;

        return now > t0 ? (uint64_t)((unsigned __int128)(now - t0) * PIT_FREQ_HZ / NSEC) : 0;
}

static uint64_t ticks_to_ns(uint64_t n)
{
        return (uint64_t)((unsigned __int128)n * NSEC / PIT_FREQ_HZ);
}

/* The counting element's value now. Modes 0, 1, 4 and 5 wrap around; 2 and 3 reload. */
static uint32_t pit_count(const struct pit *p, const struct kvm_pit_channel_state *c)
{
        uint64_t d = ticks(p, c);

        switch (c->mode) {
        case 0:
        case 1:
        case 4:
        case 5:
                return (uint32_t)(c->count - d) & 0xffff;
        case 3: /* square wave: counts down by two */
                return c->count - (uint32_t)((2 * d) % c->count);
        default:
                return c->count - (uint32_t)(d % c->count);
        }
}

/* The channel's OUT pin now. */
static int pit_out(const struct pit *p, const struct kvm_pit_channel_state *c)
{
        uint64_t d = ticks(p, c);

        switch (c->mode) {
        case 1:
                return d < c->count;
        case 2:
                return d % c->count == 0 && d != 0;
        case 3:
                return d % c->count < (c->count + 1) / 2;
        case 4:
        case 5:
                return d == c->count;
        default:
                return d >= c->count;
        }
}

/* Channel 0's interrupt for its mode and count: one-shot, periodic, or none. */
static void arm_channel0(struct pit *p)
{
        const struct kvm_pit_channel_state *c = &p->ch[0];
        uint64_t ns = ticks_to_ns(c->count), period;

        switch (c->mode) {
        case 0:
        case 1:
        case 4:
                p->arm(p->ctx, ns ? ns : 1, 0);
                return;
        case 2:
        case 3:
                period = ns < PIT_MIN_PERIOD_NS ? PIT_MIN_PERIOD_NS : ns;
                p->arm(p->ctx, ns ? ns : 1, period);
                return;
        default:
                p->arm(p->ctx, 0, 0);
        }
}

/* Writing a count: 0 stands for 65536; counting restarts now. */
static void load_count(struct pit *p, unsigned int i, uint32_t val)
{
        p->ch[i].count = val ? val : 0x10000;
        p->ch[i].count_load_time = (int64_t)p->now();
        if (i == 0)
                arm_channel0(p);
}

static void set_gate(struct pit *p, unsigned int i, uint8_t val)
{
        struct kvm_pit_channel_state *c = &p->ch[i];

        /* Modes 1, 2, 3 and 5 restart counting on a rising edge; 0 and 4 are not modelled. */
        if (c->gate < val && (c->mode == 1 || c->mode == 2 || c->mode == 3 || c->mode == 5))
                c->count_load_time = (int64_t)p->now();
        c->gate = val;
}

static void latch_count(struct pit *p, struct kvm_pit_channel_state *c)
{
        if (c->count_latched)
                return;
        c->latched_count = (uint16_t)pit_count(p, c);
        c->count_latched = c->rw_mode;
}

static void latch_status(struct pit *p, struct kvm_pit_channel_state *c)
{
        if (c->status_latched)
                return;
        c->status = (uint8_t)(pit_out(p, c) << 7 | c->rw_mode << 4 | c->mode << 1 | c->bcd);
        c->status_latched = 1;
}

static void control_word(struct pit *p, uint8_t val)
{
        unsigned int i = val >> 6, access = (val >> 4) & 3;
        struct kvm_pit_channel_state *c;

        if (i == 3) { /* read-back: bit 5 clear latches counts, bit 4 clear latches status */
                for (i = 0; i < 3; i++) {
                        if (!(val & (2u << i)))
                                continue;
                        if (!(val & 0x20))
                                latch_count(p, &p->ch[i]);
                        if (!(val & 0x10))
                                latch_status(p, &p->ch[i]);
                }
                return;
        }
        c = &p->ch[i];
        if (access == 0) {
                latch_count(p, c);
                return;
        }
        c->rw_mode = c->read_state = c->write_state = (uint8_t)access;
        c->mode = (val >> 1) & 7;
        if (c->mode > 5) /* 6 and 7 are modes 2 and 3 */
                c->mode -= 4;
        c->bcd = val & 1;
}

static void write_count(struct pit *p, unsigned int i, uint8_t val)
{
        struct kvm_pit_channel_state *c = &p->ch[i];

        switch (c->write_state) {
        case RW_MSB:
                load_count(p, i, (uint32_t)val << 8);
                break;
        case RW_WORD0:
                c->write_latch = val;
                c->write_state = RW_WORD1;
                break;
        case RW_WORD1:
                load_count(p, i, c->write_latch | (uint32_t)val << 8);
                c->write_state = RW_WORD0;
                break;
        default:
                load_count(p, i, val);
        }
}

/* A latched count, low byte first when both were asked for. */
static uint8_t read_latched(struct kvm_pit_channel_state *c)
{
        uint8_t v;

        if (c->count_latched == RW_MSB) {
                c->count_latched = 0;
                return (uint8_t)(c->latched_count >> 8);
        }
        v = (uint8_t)c->latched_count;
        c->count_latched = c->count_latched == RW_WORD0 ? RW_MSB : 0;
        return v;
}

static uint8_t read_counter(struct pit *p, struct kvm_pit_channel_state *c)
{
        uint32_t n;

        if (c->status_latched) {
                c->status_latched = 0;
                return c->status;
        }
        if (c->count_latched)
                return read_latched(c);
        n = pit_count(p, c);
        switch (c->read_state) {
        case RW_MSB:
                return (uint8_t)(n >> 8);
        case RW_WORD0:
                c->read_state = RW_WORD1;
                return (uint8_t)n;
        case RW_WORD1:
                c->read_state = RW_WORD0;
                return (uint8_t)(n >> 8);
        default:
                return (uint8_t)n;
        }
}

static void pit_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct pit *p = opaque;

        if (len == 0)
                return;
        memset(data, 0, len);
        if (off >= 3)
                return;
        pthread_mutex_lock(&p->lock);
        data[0] = read_counter(p, &p->ch[off]);
        pthread_mutex_unlock(&p->lock);
}

static void pit_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct pit *p = opaque;

        if (len == 0 || off > 3)
                return;
        pthread_mutex_lock(&p->lock);
        if (off == 3)
                control_word(p, data[0]);
        else
                write_count(p, (unsigned int)off, data[0]);
        pthread_mutex_unlock(&p->lock);
}

static void speaker_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct pit *p = opaque;
        unsigned int refresh;

        (void)off;
        if (len == 0)
                return;
        memset(data, 0, len);
        pthread_mutex_lock(&p->lock);
        /* The DRAM refresh bit toggles about every 15 us; software polls it as a delay. */
        refresh = (unsigned int)(p->now() >> 14) & 1;
        data[0] = (uint8_t)(pit_out(p, &p->ch[2]) << 5 | refresh << 4 | p->speaker_data_on << 1 |
                            p->ch[2].gate);
        pthread_mutex_unlock(&p->lock);
}

static void speaker_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct pit *p = opaque;

        (void)off;
        if (len == 0)
                return;
        pthread_mutex_lock(&p->lock);
        p->speaker_data_on = data[0] & 2;
        set_gate(p, 2, data[0] & 1);
        pthread_mutex_unlock(&p->lock);
}

/* KVM's power-on state (lock held). */
static void power_on(struct pit *p)
{
        unsigned int i;

        memset(p->ch, 0, sizeof(p->ch));
        p->speaker_data_on = false;
        for (i = 0; i < 3; i++) {
                p->ch[i].mode = MODE_UNSET;
                p->ch[i].gate = i != 2;
                load_count(p, i, 0);
        }
}

int pit_init(struct pit *p, pit_arm_fn arm, void *ctx, uint64_t (*now)(void))
{
        int err;

        memset(p, 0, sizeof(*p));
        err = pthread_mutex_init(&p->lock, NULL);
        if (err)
                return -err;
        p->arm = arm;
        p->ctx = ctx;
        p->now = now ? now : monotonic_ns;
        power_on(p);
        return 0;
}

void pit_reset(struct pit *p)
{
        pthread_mutex_lock(&p->lock);
        power_on(p);
        pthread_mutex_unlock(&p->lock);
}

void pit_destroy(struct pit *p)
{
        pthread_mutex_destroy(&p->lock);
}

struct bus_dev pit_bus_dev(struct pit *p)
{
        return bus_dev_of(LAYOUT_PORT_PIT, LAYOUT_PORT_PIT_LEN, p, pit_read, pit_write);
}

struct bus_dev pit_speaker_bus_dev(struct pit *p)
{
        return bus_dev_of(LAYOUT_PORT_SPEAKER, 1, p, speaker_read, speaker_write);
}

void pit_save(struct pit *p, struct kvm_pit_state2 *out)
{
        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&p->lock);
        memcpy(out->channels, p->ch, sizeof(p->ch));
        out->flags = p->speaker_data_on ? KVM_PIT_FLAGS_SPEAKER_DATA_ON : 0;
        pthread_mutex_unlock(&p->lock);
}

/* Whether a saved channel holds only values the 8254 (and this model) can be in. */
static bool channel_ok(const struct kvm_pit_channel_state *c)
{
        return c->count <= 0x10000 && (c->mode <= 5 || c->mode == MODE_UNSET) && c->rw_mode <= 3 &&
               c->read_state <= RW_WORD1 && c->write_state <= RW_WORD1 &&
               c->count_latched <= RW_WORD0 && c->status_latched <= 1 && c->bcd <= 1 &&
               c->gate <= 1;
}

int pit_restore(struct pit *p, const struct kvm_pit_state2 *in)
{
        unsigned int i;

        for (i = 0; i < 3; i++)
                if (!channel_ok(&in->channels[i]))
                        return -EINVAL;
        if (in->flags & ~(uint32_t)KVM_PIT_FLAGS_SPEAKER_DATA_ON)
                return -EINVAL;
        pthread_mutex_lock(&p->lock);
        memcpy(p->ch, in->channels, sizeof(p->ch));
        p->speaker_data_on = in->flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON;
        for (i = 0; i < 3; i++)
                load_count(p, i, p->ch[i].count);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

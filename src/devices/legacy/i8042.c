/* i8042 model matching Firecracker's: enough for reboot=k (0xFE) and SendCtrlAltDel. */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/util.h"

static const struct metrics_desc i8042_desc[] = {I8042_METRICS(METRICS_DESC, struct i8042_stats)};

const struct metrics_table i8042_metrics_table = METRICS_TABLE(i8042_desc, struct i8042_stats);

#define OFS_DATA   0 /* port 0x60 */
#define OFS_STATUS 4 /* port 0x64: status (read), command (write) */

/* Controller commands written to port 0x64. */
#define CMD_READ_CTR   0x20
#define CMD_WRITE_CTR  0x60
#define CMD_READ_OUTP  0xd0
#define CMD_WRITE_OUTP 0xd1
#define CMD_RESET_CPU  0xfe

/* Status register bits. */
#define SB_OUT_DATA_AVAIL 0x01 /* OBF: a byte waits at port 0x60 */
#define SB_CMD_DATA       0x08 /* the next port 0x60 write is a command's parameter */
#define SB_KBD_ENABLED    0x10

/* Control byte bits. */
#define CB_KBD_INT 0x01
#define CB_POST_OK 0x04

#define KBD_ACK 0xfa

/* Set-2 make codes of Ctrl, Alt, Del (Del is an extended key). */
static const uint8_t ctrl_alt_del[] = {0x14, 0x11, 0xe0, 0x71};

static void kbd_interrupt(struct i8042 *k)
{
        int rc;

        /* The guest masked keyboard interrupts: it will poll OBF instead. */
        if (!(k->control & CB_KBD_INT) || k->irq_fd < 0)
                return;
        rc = efd_signal(k->irq_fd);
        if (rc)
                log_guest_warn("i8042: cannot raise IRQ %d: %s", LAYOUT_IRQ_I8042, strerror(-rc));
}

static void buf_flush(struct i8042 *k)
{
        k->head = 0;
        k->count = 0;
        k->status &= (uint8_t)~SB_OUT_DATA_AVAIL;
}

/* Callers check for room first; a full buffer drops the byte. */
static void buf_push(struct i8042 *k, uint8_t byte)
{
        if (k->count >= I8042_BUF_SIZE)
                return;
        k->buf[(k->head + k->count) % I8042_BUF_SIZE] = byte;
        k->count++;
        k->status |= SB_OUT_DATA_AVAIL;
}

static uint8_t buf_pop(struct i8042 *k)
{
        uint8_t byte;

        if (k->count == 0)
                return 0;
        byte = k->buf[k->head];
        k->head = (k->head + 1) % I8042_BUF_SIZE;
        if (--k->count == 0)
                k->status &= (uint8_t)~SB_OUT_DATA_AVAIL;
        return byte;
}

/* Port 0x60 read: the oldest byte; more pending bytes get another interrupt. */
static uint8_t read_data(struct i8042 *k)
{
        uint8_t byte = buf_pop(k);

        if (k->count > 0)
                kbd_interrupt(k);
        return byte;
}

/* A read/write command: the reply must be the only byte the guest reads next. */
static void reply(struct i8042 *k, uint8_t byte)
{
        buf_flush(k);
        buf_push(k, byte);
}

static void expect_param(struct i8042 *k, uint8_t cmd)
{
        k->status |= SB_CMD_DATA;
        k->cmd = cmd;
}

/* Port 0x64 write. Returns true for 0xFE, which the caller turns into a reset request. */
static bool write_command(struct i8042 *k, uint8_t cmd)
{
        switch (cmd) {
        case CMD_RESET_CPU:
                k->stats.reset_count++;
                return true;
        case CMD_READ_CTR:
                reply(k, k->control);
                break;
        case CMD_WRITE_CTR:
                buf_flush(k);
                expect_param(k, cmd);
                break;
        case CMD_READ_OUTP:
                reply(k, k->outp);
                break;
        case CMD_WRITE_OUTP:
                expect_param(k, cmd);
                break;
        default:
                k->stats.missed_write_count++;
                break;
        }
        return false;
}

/* Port 0x60 write: a pending command's parameter, or a keyboard command we blindly ack. */
static void write_data(struct i8042 *k, uint8_t val)
{
        if (k->status & SB_CMD_DATA) {
                if (k->cmd == CMD_WRITE_CTR)
                        k->control = val;
                else if (k->cmd == CMD_WRITE_OUTP)
                        k->outp = val;
                k->status &= (uint8_t)~SB_CMD_DATA;
                return;
        }
        reply(k, KBD_ACK);
        kbd_interrupt(k);
}

/* Bus read: acts on the first byte; wider accesses read zeros in the upper bytes. */
static void i8042_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct i8042 *k = opaque;

        if (len == 0)
                return;
        memset(data, 0, len);
        pthread_mutex_lock(&k->lock);
        if (off == OFS_STATUS)
                data[0] = k->status;
        else if (off == OFS_DATA)
                data[0] = read_data(k);
        else
                k->stats.missed_read_count++; /* 0x61 (speaker/NMI status) reads 0 */
        pthread_mutex_unlock(&k->lock);
}

/* Bus write: only the first byte of a wider access is used. */
static void i8042_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct i8042 *k = opaque;
        bool reset = false;

        if (len == 0)
                return;
        pthread_mutex_lock(&k->lock);
        if (off == OFS_STATUS)
                reset = write_command(k, data[0]);
        else if (off == OFS_DATA)
                write_data(k, data[0]);
        else
                k->stats.missed_write_count++;
        pthread_mutex_unlock(&k->lock);
        /* Unlocked: the callback may take VMM locks or read our stats. */
        if (reset && k->reset)
                k->reset(k->ctx);
}

/* Kbd enabled, kbd interrupt enabled, POST passed, empty buffer, no pending command. */
static void power_on(struct i8042 *k)
{
        k->status = SB_KBD_ENABLED;
        k->control = CB_POST_OK | CB_KBD_INT;
        k->outp = k->cmd = 0;
        k->head = k->count = 0;
}

int i8042_init(struct i8042 *k, int irq_fd, void (*reset)(void *ctx), void *ctx)
{
        int err;

        memset(k, 0, sizeof(*k));
        err = pthread_mutex_init(&k->lock, NULL);
        if (err)
                return -err;
        k->irq_fd = irq_fd;
        k->reset = reset;
        k->ctx = ctx;
        power_on(k);
        return 0;
}

void i8042_reset(struct i8042 *k)
{
        pthread_mutex_lock(&k->lock);
        power_on(k);
        pthread_mutex_unlock(&k->lock);
}

void i8042_destroy(struct i8042 *k)
{
        pthread_mutex_destroy(&k->lock);
}

struct bus_dev i8042_bus_dev(struct i8042 *k)
{
        return bus_dev_of(LAYOUT_PORT_I8042_DATA,
                          LAYOUT_PORT_I8042_CMD - LAYOUT_PORT_I8042_DATA + 1, k, i8042_read,
                          i8042_write);
}

/* Ports 0x62..0x64 as the window at 0x62 sees them: offsets 2..4 of the whole range. */
static void i8042_read_hi(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        i8042_read(opaque, off + 2, data, len);
}

static void i8042_write_hi(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        i8042_write(opaque, off + 2, data, len);
}

void i8042_bus_windows(struct i8042 *k, struct bus_dev out[2])
{
        out[0] = bus_dev_of(LAYOUT_PORT_I8042_DATA, 1, k, i8042_read, i8042_write);
        out[1] = bus_dev_of(LAYOUT_PORT_SPEAKER + 1, LAYOUT_PORT_I8042_CMD - LAYOUT_PORT_SPEAKER, k,
                            i8042_read_hi, i8042_write_hi);
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
        size_t i;

        pthread_mutex_lock(&k->lock);
        if (I8042_BUF_SIZE - k->count < sizeof(ctrl_alt_del)) {
                pthread_mutex_unlock(&k->lock);
                return -ENOSPC;
        }
        for (i = 0; i < sizeof(ctrl_alt_del); i++)
                buf_push(k, ctrl_alt_del[i]);
        kbd_interrupt(k);
        pthread_mutex_unlock(&k->lock);
        return 0;
}

void i8042_get_stats(struct i8042 *k, struct i8042_stats *out)
{
        pthread_mutex_lock(&k->lock);
        *out = k->stats;
        pthread_mutex_unlock(&k->lock);
}

void i8042_save(struct i8042 *k, struct i8042_state *out)
{
        unsigned int i;

        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&k->lock);
        out->status = k->status;
        out->control = k->control;
        out->outp = k->outp;
        out->cmd = k->cmd;
        out->count = (uint8_t)k->count;
        for (i = 0; i < k->count; i++)
                out->buf[i] = k->buf[(k->head + i) % I8042_BUF_SIZE];
        pthread_mutex_unlock(&k->lock);
}

int i8042_restore(struct i8042 *k, const struct i8042_state *in)
{
        if (in->count > I8042_BUF_SIZE)
                return -EINVAL;
        pthread_mutex_lock(&k->lock);
        k->status = in->status;
        k->control = in->control;
        k->outp = in->outp;
        k->cmd = in->cmd;
        memcpy(k->buf, in->buf, in->count);
        k->head = 0;
        k->count = in->count;
        pthread_mutex_unlock(&k->lock);
        return 0;
}

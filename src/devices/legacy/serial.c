/* 16550A UART model: registers, RX FIFO, THRE/RDA interrupts; fd plumbing stays with the VMM. */
#include "devices/legacy/serial.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "core/timeline.h"
#include "core/util.h"

static const struct metrics_desc serial_desc[] = {
    SERIAL_METRICS(METRICS_DESC, struct serial_stats)};

const struct metrics_table serial_metrics_table = METRICS_TABLE(serial_desc, struct serial_stats);

/* Register offsets from the base port. */
enum {
        REG_DATA = 0, /* RBR (read) / THR (write); DLL when LCR.DLAB */
        REG_IER = 1,  /* DLM when LCR.DLAB */
        REG_IIR = 2,  /* IIR (read) / FCR (write) */
        REG_LCR = 3,
        REG_MCR = 4,
        REG_LSR = 5,
        REG_MSR = 6,
        REG_SCR = 7,
};

#define IER_RDA      0x01
#define IER_THRE     0x02
#define IER_VALID    0x0f /* 16550A has 4 interrupt enables; the rest read back 0 */
#define IIR_NONE     0x01
#define IIR_THRE     0x02
#define IIR_RDA      0x04
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_DTR      0x01
#define MCR_RTS      0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define MCR_VALID    0x1f
#define LSR_DR       0x01
#define LSR_OE       0x02
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_RI       0x40
#define MSR_DCD      0x80

/* 115200 / 12 = 9600 baud, the conventional reset divisor. */
#define DEFAULT_DIVISOR 12

static bool loopback(const struct serial *s)
{
        return (s->mcr & MCR_LOOP) != 0;
}

static bool dlab(const struct serial *s)
{
        return (s->lcr & LCR_DLAB) != 0;
}

static bool rda_active(const struct serial *s)
{
        return (s->ier & IER_RDA) && s->rx_count > 0;
}

static bool thre_active(const struct serial *s)
{
        return (s->ier & IER_THRE) && s->thre_pending;
}

/*
 * The UART's interrupt output is a level; KVM's irqfd takes edges. Call after
 * every state change: a low-to-high transition pulses the eventfd.
 */
static void update_irq(struct serial *s)
{
        bool level = rda_active(s) || thre_active(s);

        if (level && !s->irq_level)
                efd_signal(s->irq_fd);
        s->irq_level = level;
}

/* Wakes the VMM once the guest emptied a FIFO it was refused room in. */
static void maybe_wake_input(struct serial *s)
{
        if (s->input_waiting && s->rx_count == 0 && !loopback(s)) {
                s->input_waiting = false;
                efd_signal(s->input_evt_fd);
        }
}

static size_t rx_space(const struct serial *s)
{
        return SERIAL_FIFO_SIZE - s->rx_count;
}

static void rx_push(struct serial *s, uint8_t byte)
{
        s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
        s->rx_count++;
        s->stats.read_count++;
}

static uint8_t rx_pop(struct serial *s)
{
        uint8_t byte;

        if (s->rx_count == 0) {
                s->stats.missed_read_count++;
                return 0;
        }
        byte = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
        s->rx_count--;
        if (s->rx_count == 0)
                maybe_wake_input(s);
        return byte;
}

static void rx_clear(struct serial *s)
{
        s->rx_head = 0;
        s->rx_count = 0;
        maybe_wake_input(s);
}

/* IIR: highest-priority pending source (RDA over THRE); reading it acks THRE. */
static uint8_t read_iir(struct serial *s)
{
        uint8_t fifo = s->fifo_enabled ? IIR_FIFO : 0;

        if (rda_active(s))
                return IIR_RDA | fifo;
        if (thre_active(s)) {
                s->thre_pending = false;
                return IIR_THRE | fifo;
        }
        return IIR_NONE | fifo;
}

static uint8_t read_lsr(struct serial *s)
{
        /* Output is queued (or dropped) at once, so THR and the shifter are always empty. */
        uint8_t lsr = LSR_THRE | LSR_TEMT;

        if (s->rx_count > 0)
                lsr |= LSR_DR;
        if (s->overrun)
                lsr |= LSR_OE;
        s->overrun = false;
        return lsr;
}

/* In loopback the modem inputs mirror MCR outputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t read_msr(const struct serial *s)
{
        uint8_t msr = 0;

        if (!loopback(s))
                return MSR_DCD | MSR_DSR | MSR_CTS;
        if (s->mcr & MCR_RTS)
                msr |= MSR_CTS;
        if (s->mcr & MCR_DTR)
                msr |= MSR_DSR;
        if (s->mcr & MCR_OUT1)
                msr |= MSR_RI;
        if (s->mcr & MCR_OUT2)
                msr |= MSR_DCD;
        return msr;
}

static uint8_t reg_read(struct serial *s, uint64_t off)
{
        switch (off) {
        case REG_DATA:
                return dlab(s) ? s->dll : rx_pop(s);
        case REG_IER:
                return dlab(s) ? s->dlm : s->ier;
        case REG_IIR:
                return read_iir(s);
        case REG_LCR:
                return s->lcr;
        case REG_MCR:
                return s->mcr;
        case REG_LSR:
                return read_lsr(s);
        case REG_MSR:
                return read_msr(s);
        case REG_SCR:
                return s->scr;
        default:
                return 0;
        }
}

/*
 * While nothing waits in the ring, a byte goes straight out, so console output keeps its
 * place among the log lines that share the fd (a guest's last line before a reset comes
 * before "Guest requested a reset"). The fd never blocks a vCPU: stdout that can fill is
 * non-blocking (core/outfd), and a full one makes the byte wait in the ring. True if sent.
 */
static bool transmit_now(struct serial *s, uint8_t byte)
{
        ssize_t n;

        if (s->tx_count)
                return false;
        do
                n = write(s->out_fd, &byte, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                return false;
        s->stats.write_count++;
        return true;
}

/*
 * Sends one guest byte, after the rate limiter, or queues it for the VMM thread
 * (serial_flush_output()); never waits, since the vCPU must not stall: a byte that finds the
 * ring full is dropped and counted. Lock held.
 */
static void transmit(struct serial *s, uint8_t byte)
{
        if (s->out_limit.enabled &&
            token_bucket_reduce(&s->out_limit, 1, rate_limiter_now(), NULL) != BUCKET_SUCCESS) {
                s->stats.rate_limiter_dropped_bytes++;
                return;
        }
        if (s->out_fd < 0) {
                s->stats.write_count++; /* discarded, as written */
                return;
        }
        if (transmit_now(s, byte))
                return;
        if (s->tx_count == SERIAL_TX_RING) {
                s->stats.missed_write_count++;
                s->stats.error_count++;
                return;
        }
        s->tx[(s->tx_head + s->tx_count) % SERIAL_TX_RING] = byte;
        if (s->tx_count++ == 0)
                efd_signal(s->output_evt_fd);
}

/*
 * THR write. Transmission is instantaneous as far as the guest can tell (the byte is
 * queued or dropped), so THR is empty again at once and the THRE source re-arms.
 */
static void write_thr(struct serial *s, uint8_t byte)
{
        s->thre_pending = true;
        if (!loopback(s)) {
                transmit(s, byte);
        } else if (s->rx_count < SERIAL_FIFO_SIZE) {
                rx_push(s, byte);
        } else {
                s->overrun = true;
                s->stats.error_count++;
        }
}

static void write_ier(struct serial *s, uint8_t val)
{
        /* A real 16550A raises THRE when ETBEI is enabled while THR is empty (Linux probes this).
         */
        if ((val & IER_THRE) && !(s->ier & IER_THRE))
                s->thre_pending = true;
        s->ier = val & IER_VALID;
}

static void write_fcr(struct serial *s, uint8_t val)
{
        s->fifo_enabled = (val & FCR_ENABLE) != 0;
        if (val & FCR_CLEAR_RX)
                rx_clear(s);
}

static void write_mcr(struct serial *s, uint8_t val)
{
        s->mcr = val & MCR_VALID;
        maybe_wake_input(s); /* leaving loopback reconnects the line input */
}

static void reg_write(struct serial *s, uint64_t off, uint8_t val)
{
        switch (off) {
        case REG_DATA:
                if (!dlab(s)) {
                        timeline_mark(TL_GUEST); /* the first byte: the guest is up */
                        write_thr(s, val);
                } else {
                        s->dll = val;
                }
                break;
        case REG_IER:
                if (dlab(s))
                        s->dlm = val;
                else
                        write_ier(s, val);
                break;
        case REG_IIR:
                write_fcr(s, val);
                break;
        case REG_LCR:
                s->lcr = val;
                break;
        case REG_MCR:
                write_mcr(s, val);
                break;
        case REG_SCR:
                s->scr = val;
                break;
        default: /* LSR/MSR writes are factory-test only on real parts */
                break;
        }
}

/* Bus read: acts on the first byte; wider accesses read zeros in the upper bytes. */
static void serial_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct serial *s = opaque;

        if (len == 0)
                return;
        memset(data, 0, len);
        pthread_mutex_lock(&s->lock);
        data[0] = reg_read(s, off);
        update_irq(s);
        pthread_mutex_unlock(&s->lock);
}

/* Bus write: only the first byte of a wider access reaches the register. */
static void serial_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct serial *s = opaque;

        if (len == 0)
                return;
        pthread_mutex_lock(&s->lock);
        reg_write(s, off, data[0]);
        update_irq(s);
        pthread_mutex_unlock(&s->lock);
}

/* The 16550A reset state: 9600 8N1 divisor, MCR.OUT2 set, FIFO off and empty, no interrupt. */
static void power_on(struct serial *s)
{
        s->ier = s->scr = s->dlm = 0;
        s->lcr = 0x03;     /* 8 data bits */
        s->mcr = MCR_OUT2; /* PC boards gate the IRQ line with OUT2; firmware leaves it set */
        s->dll = DEFAULT_DIVISOR;
        s->fifo_enabled = s->overrun = s->thre_pending = s->irq_level = false;
        s->rx_head = s->rx_count = 0;
}

static void close_evt(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

int serial_init(struct serial *s, int out_fd, int irq_fd)
{
        int err;

        memset(s, 0, sizeof(*s));
        s->input_evt_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->output_evt_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        err = s->input_evt_fd < 0 || s->output_evt_fd < 0 ? errno : 0;
        if (!err)
                err = pthread_mutex_init(&s->lock, NULL);
        if (err) {
                close_evt(&s->input_evt_fd);
                close_evt(&s->output_evt_fd);
                return -err;
        }
        s->out_fd = out_fd;
        s->irq_fd = irq_fd;
        power_on(s);
        return 0;
}

void serial_set_output_limit(struct serial *s, const struct token_bucket_cfg *cfg)
{
        if (!cfg->present)
                return;
        pthread_mutex_lock(&s->lock);
        token_bucket_init(&s->out_limit, cfg->size, cfg->one_time_burst, cfg->refill_time_ms,
                          rate_limiter_now());
        pthread_mutex_unlock(&s->lock);
}

void serial_reset(struct serial *s)
{
        pthread_mutex_lock(&s->lock);
        power_on(s);
        maybe_wake_input(s); /* the FIFO it was refused room in is empty now */
        pthread_mutex_unlock(&s->lock);
}

void serial_save(struct serial *s, struct serial_state *out)
{
        unsigned int i;

        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&s->lock);
        out->ier = s->ier;
        out->lcr = s->lcr;
        out->mcr = s->mcr;
        out->scr = s->scr;
        out->dll = s->dll;
        out->dlm = s->dlm;
        out->flags = (uint8_t)((s->fifo_enabled ? SERIAL_STATE_FIFO : 0) |
                               (s->overrun ? SERIAL_STATE_OVERRUN : 0) |
                               (s->thre_pending ? SERIAL_STATE_THRE : 0) |
                               (s->irq_level ? SERIAL_STATE_IRQ : 0));
        out->rx_count = (uint8_t)s->rx_count;
        for (i = 0; i < s->rx_count; i++)
                out->rx[i] = s->rx[(s->rx_head + i) % SERIAL_FIFO_SIZE];
        pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, const struct serial_state *in)
{
        if (in->rx_count > SERIAL_FIFO_SIZE)
                return -EINVAL;
        pthread_mutex_lock(&s->lock);
        s->ier = in->ier;
        s->lcr = in->lcr;
        s->mcr = in->mcr;
        s->scr = in->scr;
        s->dll = in->dll;
        s->dlm = in->dlm;
        s->fifo_enabled = in->flags & SERIAL_STATE_FIFO;
        s->overrun = in->flags & SERIAL_STATE_OVERRUN;
        s->thre_pending = in->flags & SERIAL_STATE_THRE;
        s->irq_level = in->flags & SERIAL_STATE_IRQ; /* the irqchip state holds the line */
        memcpy(s->rx, in->rx, in->rx_count);
        s->rx_head = 0;
        s->rx_count = in->rx_count;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

void serial_destroy(struct serial *s)
{
        serial_drain_output(s, 0);
        close_evt(&s->input_evt_fd);
        close_evt(&s->output_evt_fd);
        pthread_mutex_destroy(&s->lock);
}

struct bus_dev serial_bus_dev(struct serial *s)
{
        return bus_dev_of(LAYOUT_PORT_COM1, LAYOUT_PORT_COM1_LEN, s, serial_read, serial_write);
}

size_t serial_input_space(struct serial *s)
{
        size_t space;

        pthread_mutex_lock(&s->lock);
        space = loopback(s) ? 0 : rx_space(s);
        if (space == 0)
                s->input_waiting = true;
        pthread_mutex_unlock(&s->lock);
        return space;
}

int serial_push_input(struct serial *s, const uint8_t *buf, size_t len)
{
        size_t n = 0;

        pthread_mutex_lock(&s->lock);
        if (!loopback(s)) {
                while (n < len && s->rx_count < SERIAL_FIFO_SIZE)
                        rx_push(s, buf[n++]);
        }
        if (n < len)
                s->input_waiting = true;
        update_irq(s);
        pthread_mutex_unlock(&s->lock);
        return (int)n;
}

int serial_input_eventfd(struct serial *s)
{
        return s->input_evt_fd;
}

void serial_get_stats(struct serial *s, struct serial_stats *out)
{
        pthread_mutex_lock(&s->lock);
        *out = s->stats;
        pthread_mutex_unlock(&s->lock);
}

int serial_output_eventfd(struct serial *s)
{
        return s->output_evt_fd;
}

/* Takes n written bytes off the ring (n < 0: a write error, which loses all it holds). */
static void tx_consume(struct serial *s, ssize_t n)
{
        pthread_mutex_lock(&s->lock);
        if (n > 0) {
                s->tx_head = (s->tx_head + (unsigned int)n) % SERIAL_TX_RING;
                s->tx_count -= (unsigned int)n;
                s->stats.write_count += (uint64_t)n;
        } else {
                s->stats.missed_write_count += s->tx_count;
                s->stats.error_count += s->tx_count;
                s->tx_head = s->tx_count = 0;
        }
        pthread_mutex_unlock(&s->lock);
}

/* The longest run of buffered bytes that is contiguous in the ring; its start in *head. */
static size_t tx_run(struct serial *s, unsigned int *head)
{
        size_t len;

        pthread_mutex_lock(&s->lock);
        *head = s->tx_head;
        len = s->tx_count < SERIAL_TX_RING - s->tx_head ? s->tx_count : SERIAL_TX_RING - s->tx_head;
        pthread_mutex_unlock(&s->lock);
        return len;
}

int serial_flush_output(struct serial *s, size_t budget)
{
        unsigned int head;
        size_t done = 0, len;
        ssize_t n;

        efd_drain(s->output_evt_fd, NULL);
        /* Only this thread takes bytes off, so [head, head + len) stays put unlocked. */
        while ((len = tx_run(s, &head)) > 0) {
                if (done >= budget) {
                        efd_signal(s->output_evt_fd);
                        return -EBUSY;
                }
                if (len > budget - done)
                        len = budget - done;
                n = write(s->out_fd, s->tx + head, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return -EAGAIN;
                tx_consume(s, n > 0 ? n : -1); /* 0 written of len > 0: nothing will be */
                done += n > 0 ? (size_t)n : 0;
        }
        return 0;
}

void serial_drain_output(struct serial *s, int timeout_ms)
{
        uint64_t end = now_ms() + (uint64_t)timeout_ms, now;
        struct pollfd p = {.fd = s->out_fd, .events = POLLOUT};
        int rc;

        if (s->out_fd < 0)
                return;
        /* A ring's worth at a time: a guest still writing cannot keep this going. */
        while ((rc = serial_flush_output(s, SERIAL_TX_RING)) != 0) {
                now = now_ms();
                if (now >= end) {
                        tx_consume(s, -1);
                        break;
                }
                if (rc == -EAGAIN)
                        poll(&p, 1, (int)(end - now));
        }
}

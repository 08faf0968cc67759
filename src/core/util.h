/* Small helpers every layer needs: eventfd signalling, clocks, little-endian access, array sizes.
 */
#ifndef BRASA_CORE_UTIL_H
#define BRASA_CORE_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The struct of type T whose member m is at p. */
#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/*
 * Adds 1 to the eventfd fd. A counter that is full already has a wakeup pending, so EAGAIN
 * counts as success. Returns 0, or -errno (-EBADF for fd < 0).
 */
static inline int efd_signal(int fd)
{
        uint64_t one = 1;

        if (fd < 0)
                return -EBADF;
        if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

/*
 * Reads (and so resets) the eventfd fd's counter into *val (may be NULL). A counter that is
 * already zero on a non-blocking fd gives 0 with *val = 0. Returns 0 or -errno.
 */
static inline int efd_drain(int fd, uint64_t *val)
{
        uint64_t v = 0;

        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return -errno;
        if (val)
                *val = v;
        return 0;
}

/* clock's time in microseconds. */
static inline uint64_t clock_us(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* CLOCK_MONOTONIC in microseconds and in milliseconds. */
static inline uint64_t now_us(void)
{
        return clock_us(CLOCK_MONOTONIC);
}

static inline uint64_t now_ms(void)
{
        return clock_us(CLOCK_MONOTONIC) / 1000u;
}

/* Little-endian loads and stores of unaligned guest or file bytes. */
static inline uint64_t ld_le(const void *p, unsigned int n)
{
        const uint8_t *b = p;
        uint64_t v = 0;

        while (n--)
                v = v << 8 | b[n];
        return v;
}

static inline uint32_t ld_le32(const void *p)
{
        return (uint32_t)ld_le(p, 4);
}

static inline void st_le(void *p, uint64_t v, unsigned int n)
{
        uint8_t *b = p;
        unsigned int i;

        for (i = 0; i < n; i++, v >>= 8)
                b[i] = (uint8_t)v;
}

static inline void st_le32(void *p, uint32_t v)
{
        st_le(p, v, 4);
}

#endif

/* libFuzzer target: a hostile guest's PIT port accesses, time jumps and snapshot states. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/legacy/pit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fake_ns;

static uint64_t fake_now(void)
{
        return fake_ns;
}

/* Channel 0's timer as the model asks for it: a period is never below the floor. */
static void on_arm(void *ctx, uint64_t delay_ns, uint64_t period_ns)
{
        (void)ctx;
        if (period_ns && (period_ns < PIT_MIN_PERIOD_NS || !delay_ns))
                abort();
}

/*
 * Each op is 2 bytes: the first picks what (port 0x40-0x43 write or read, 0x61 write or read,
 * a clock jump, a save and restore, a restore of the next bytes as a state), the second is the
 * value. A restore of raw bytes consumes sizeof(struct kvm_pit_state2) more.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pit p;
        struct bus_dev ports, speaker;
        struct kvm_pit_state2 st;
        size_t i = 0;
        uint8_t v[8];

        fake_ns = 1;
        if (pit_init(&p, on_arm, NULL, fake_now))
                return 0;
        ports = pit_bus_dev(&p);
        speaker = pit_speaker_bus_dev(&p);
        while (i + 2 <= size) {
                uint8_t op = data[i], val = data[i + 1];

                i += 2;
                memset(v, val, sizeof(v));
                switch (op % 8) {
                case 0:
                        ports.write(ports.opaque, op >> 3 & 3, v, 1 + (op >> 5 & 3));
                        break;
                case 1:
                        ports.read(ports.opaque, op >> 3 & 7, v, 1 + (op >> 6));
                        break;
                case 2:
                        speaker.write(speaker.opaque, 0, v, 1);
                        break;
                case 3:
                        speaker.read(speaker.opaque, 0, v, 1 + (op >> 6));
                        break;
                case 4: /* up to about 2^40 ns at once: hours of guest time */
                        fake_ns += (uint64_t)val << (op >> 3);
                        break;
                case 5:
                        pit_save(&p, &st);
                        if (pit_restore(&p, &st))
                                abort(); /* what the model saved, it must take back */
                        break;
                case 6:
                        if (size - i < sizeof(st))
                                break;
                        memcpy(&st, data + i, sizeof(st));
                        i += sizeof(st);
                        (void)pit_restore(&p, &st);
                        break;
                default:
                        pit_reset(&p);
                }
        }
        pit_destroy(&p);
        return 0;
}

/* Build-time tool for the test guests: assembles linux64.bzImage and writes the initrd and its
 * checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR      512
#define MAX_SETUP   (64 * SECTOR)
#define MAX_KERNEL  (16 << 20)
#define INITRD_SIZE (64 * 1024 - 3) /* not a page multiple, and a 3-byte checksum tail */

static void die(const char *what, const char *path)
{
        fprintf(stderr, "mkimage: %s: %s\n", what, path);
        exit(1);
}

static size_t read_file(const char *path, uint8_t *buf, size_t max)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                die("cannot open", path);
        size_t n = fread(buf, 1, max, f);
        if (ferror(f) || fgetc(f) != EOF)
                die("unreadable or too large", path);
        fclose(f);
        return n;
}

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f))
                die("cannot write", path);
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
        return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* setup.bin carries the header with constants; fill in the size-dependent fields. */
static int bzimage(const char *setup_path, const char *kernel_path, const char *out)
{
        static uint8_t setup[MAX_SETUP], kernel[MAX_KERNEL];
        size_t ns = read_file(setup_path, setup, sizeof(setup));
        size_t nk = read_file(kernel_path, kernel, sizeof(kernel));

        if (ns < 0x26c || setup[0x1fe] != 0x55 || setup[0x1ff] != 0xaa ||
            memcmp(setup + 0x202, "HdrS", 4))
                die("not a setup header", setup_path);
        /* At least two sectors: the 2.15 header runs past the first one. */
        size_t padded = (ns + SECTOR - 1) / SECTOR * SECTOR;
        if (padded < 2 * SECTOR)
                padded = 2 * SECTOR;
        if (padded > MAX_SETUP)
                die("setup too large", setup_path);
        setup[0x1f1] = (uint8_t)(padded / SECTOR - 1);
        put32(setup + 0x1f4, (uint32_t)((nk + 15) / 16));            /* syssize */
        put32(setup + 0x260, (uint32_t)((nk + 4095) / 4096 * 4096)); /* init_size */
        if (get32(setup + 0x258) != 0x100000)
                die("pref_address must be 1 MiB", setup_path);
        write_file(out, setup, padded, kernel, nk);
        return 0;
}

/* FNV-1a 32 over little-endian 32-bit words, then the tail bytes (main.c does the same). */
static uint32_t fnv1a32w(const uint8_t *p, size_t n)
{
        uint32_t h = 0x811c9dc5u;
        size_t i = 0;

        for (; i + 4 <= n; i += 4)
                h = (h ^ get32(p + i)) * 0x01000193u;
        for (; i < n; i++)
                h = (h ^ p[i]) * 0x01000193u;
        return h;
}

/* xorshift32 from "bras": each step's state, little-endian, truncated to the size. */
static int initrd(const char *out, const char *sum_out)
{
        static uint8_t data[INITRD_SIZE + 4];
        uint32_t x = 0x62726173u;
        char text[16];

        for (size_t i = 0; i < INITRD_SIZE; i += 4) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                put32(data + i, x);
        }
        write_file(out, data, INITRD_SIZE, NULL, 0);
        int n = snprintf(text, sizeof(text), "0x%08x\n", fnv1a32w(data, INITRD_SIZE));
        write_file(sum_out, text, (size_t)n, NULL, 0);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 5 && !strcmp(argv[1], "bzimage"))
                return bzimage(argv[2], argv[3], argv[4]);
        if (argc == 4 && !strcmp(argv[1], "initrd"))
                return initrd(argv[2], argv[3]);
        fprintf(stderr, "usage: mkimage bzimage SETUP.bin KERNEL.bin OUT\n"
                        "       mkimage initrd OUT.img OUT.sum\n");
        return 2;
}

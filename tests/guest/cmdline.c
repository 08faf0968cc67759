/* The test guest's command-line words: lookups, numbers, and the virtio-mmio devices listed. */
#include <linux/virtio_mmio.h>

#include "guest.h"

const u8 *cmd_word(const u8 *s, u64 n, const char *key, u64 *len)
{
        for (u64 i = 0; i < n;) {
                while (i < n && s[i] == ' ')
                        i++;
                u64 j = 0, end = i;
                while (i + j < n && key[j] && s[i + j] == (u8)key[j])
                        j++;
                while (end < n && s[end] != ' ')
                        end++;
                if (!key[j]) {
                        *len = end - (i + j);
                        return s + i + j;
                }
                i = end;
        }
        return 0;
}

u64 cmd_num(const u8 *p, u64 n, u32 base)
{
        u64 v = 0;
        for (u64 i = 0; i < n; i++) {
                u8 c = p[i];
                u32 d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
                if (d >= base)
                        break;
                v = v * base + d;
        }
        return v;
}

u32 cmd_opt(const u8 *cmd, u64 n, const char *key, u32 dflt)
{
        u64 len;
        const u8 *v = cmd_word(cmd, n, key, &len);
        return v ? (u32)cmd_num(v, len, 10) : dflt;
}

int cmd_same(const u8 *p, u64 n, const char *s)
{
        u64 i = 0;
        while (i < n && s[i] && p[i] == (u8)s[i])
                i++;
        return i == n && !s[i];
}

u64 cmd_find_virtio(const u8 *cmd, u64 n, u32 id)
{
        u64 off = 0, len;
        const u8 *v;

        while ((v = cmd_word(cmd + off, n - off, "virtio_mmio.device=", &len))) {
                off = (u64)(v - cmd) + len;
                u64 i = 0;
                while (i < len && v[i] != '@')
                        i++;
                if (i + 3 >= len)
                        continue;
                u64 base = cmd_num(v + i + 3, len - i - 3, 16); /* skip "@0x" */
                if (mapped(base, 4096) && *(volatile u32 *)(base + VIRTIO_MMIO_DEVICE_ID) == id)
                        return base;
        }
        return 0;
}

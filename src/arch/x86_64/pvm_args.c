/* The kernel arguments a Linux guest needs on a kvm_pvm host, and which of them a user lacks. */
#include "arch/x86_64/pvm_args.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/*
 * kvm_pvm shows the guest the host's leaf 1 ECX, leaf 7 and leaf 0xD whatever KVM_SET_CPUID2
 * says, and their instructions (xrstor, popcnt, clac, ...) fail emulation in guest kernel
 * mode. Linux parses these two options before the FPU is set up and before alternatives are
 * patched, so the kernel never uses them. The list clears the whole of the CPU template.
 */
#define PVM_ARGS_TEXT                                                                              \
        "noxsave "                                                                                 \
        "clearcpuid=popcnt,rdrand,rdseed,smap,smep,fsgsbase,invpcid,pcid,pku,rdpid,erms,fsrm,"     \
        "movbe,clflushopt,clwb,bmi1,bmi2"

_Static_assert(sizeof(PVM_ARGS_TEXT) <= PVM_BOOT_ARGS_MAX, "PVM_BOOT_ARGS_MAX too small");

const char pvm_boot_args[] = PVM_ARGS_TEXT;

/* Length of the key of the word at w (up to '=', a blank or the end). */
static size_t key_len(const char *w)
{
        size_t n = 0;

        while (w[n] && w[n] != ' ' && w[n] != '\t' && w[n] != '=')
                n++;
        return n;
}

/* Whether a word of cmdline has the key key[0..n): "key" alone or "key=...". */
static bool has_key(const char *cmdline, const char *key, size_t n)
{
        const char *p = cmdline;

        while (p && *p) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (key_len(p) == n && strncmp(p, key, n) == 0)
                        return true;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
        }
        return false;
}

/* Appends the word w[0..n) to the space-separated list out. */
static int append_word(char *out, size_t len, const char *w, size_t n)
{
        size_t used = strlen(out);
        size_t need = used + (used ? 1 : 0) + n + 1;

        if (need > len)
                return -E2BIG;
        if (used)
                out[used++] = ' ';
        memcpy(out + used, w, n);
        out[used + n] = '\0';
        return 0;
}

int pvm_args_missing(const char *user, char *add, size_t add_len, char *skipped, size_t skipped_len)
{
        const char *w = pvm_boot_args;
        size_t n;
        int rc;

        if (!add_len || !skipped_len)
                return -E2BIG;
        add[0] = skipped[0] = '\0';
        while (*w) {
                n = strcspn(w, " ");
                if (user && has_key(user, w, key_len(w)))
                        rc = append_word(skipped, skipped_len, w, n);
                else
                        rc = append_word(add, add_len, w, n);
                if (rc)
                        return rc;
                w += n;
                w += *w == ' ';
        }
        return 0;
}

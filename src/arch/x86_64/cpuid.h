/* Guest CPUID: Firecracker's normalization, the kvm_pvm CPU template, and PVM host detection. */
#ifndef BRASA_ARCH_X86_64_CPUID_H
#define BRASA_ARCH_X86_64_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

/* Length of the brand string in leaves 0x80000002..0x80000004, NUL padding included. */
#define CPUID_BRAND_LEN 48

/* Whether to apply the kvm_pvm CPU template: decided from the host, or forced. */
enum cpu_template_mode {
        CPU_TEMPLATE_AUTO,
        CPU_TEMPLATE_PVM_ON,
        CPU_TEMPLATE_PVM_OFF,
};

/*
 * Returns the entry for (function, index) in c, or NULL when absent. KVM stores
 * index 0 for leaves without subleaves, so pass 0 for those.
 */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index);

/*
 * Rewrites c (from KVM_GET_SUPPORTED_CPUID) into what vCPU cpu_index of an
 * nr_vcpus-vCPU guest must see, as Firecracker does: leaf 1 topology/feature
 * bits, a synthesized leaf 0xB (and 0x1F when present), then vendor parts
 * (Intel: leaves 4, 6, 7, 0xA, brand; AMD: 7, 0x80000001, 0x80000008,
 * 0x8000001D/E, brand). With smt and nr_vcpus > 1 a core has two threads
 * (vCPUs 2k and 2k+1), otherwise one; the topology leaves (0xB/0x1F level 0,
 * 4 and 0x8000001D cache sharing and core count, 0x8000001E) say so. The
 * entries[] buffer must hold capacity entries; missing subleaves are appended.
 * Returns 0, -EINVAL (nr_vcpus 0 or > LAYOUT_MAX_VCPUS, cpu_index >= nr_vcpus,
 * nent > capacity, leaf 0 or 1 missing) or -ENOSPC (no room to add a leaf).
 */
int cpuid_normalize(struct kvm_cpuid2 *c, size_t capacity, unsigned int cpu_index,
                    unsigned int nr_vcpus, bool smt);

/*
 * Hides, in every entry of c, the features kvm_pvm cannot emulate in the guest
 * kernel (see the table in cpuid.c), zeroes leaf 0xD, and clears KVM's
 * PV_UNHALT, PV_SEND_IPI and PV_SCHED_YIELD (their vmcalls never return there).
 * Apply after cpuid_normalize(). Other bits are left alone.
 */
void cpuid_apply_pvm_template(struct kvm_cpuid2 *c);

/* Pure core of cpuid_host_is_pvm(): no VMX, no SVM, and the kvm_pvm module loaded. */
bool cpuid_pvm_detect(bool host_vmx, bool host_svm, bool kvm_pvm_module);

/*
 * True when /dev/kvm is kvm_pvm: the host CPUID shows neither VMX (1.ECX[5]) nor
 * SVM (0x80000001.ECX[2]) and /sys/module/kvm_pvm exists.
 */
bool cpuid_host_is_pvm(void);

/* Whether the PVM template applies: AUTO follows host_is_pvm, ON/OFF force it. */
bool cpuid_template_wanted(enum cpu_template_mode mode, bool host_is_pvm);

/*
 * Firecracker's default Intel brand string: "Intel(R) Xeon(R) Processor @ <f>"
 * where <f> ("3.00GHz") is taken from host, or without " @ <f>" when host
 * has no "<digits>[MGT]Hz" after a space. out is NUL padded. Pure, for tests.
 */
void cpuid_intel_brand(const char host[CPUID_BRAND_LEN], char out[CPUID_BRAND_LEN]);

#endif

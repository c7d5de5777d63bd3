/* include/cpuid_cache.h — KVM_GET_SUPPORTED_CPUID once per host (vmm/cpuid_cache.c). */
#ifndef FASTVMM_CPUID_CACHE_H
#define FASTVMM_CPUID_CACHE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

#define CPUID_CACHE_MAX_ENTRIES 256 /* capacity of every table handed out (one spare slot) */

/* The supported CPUID table in a fresh buffer of CPUID_CACHE_MAX_ENTRIES entries (free() it):
 * from the cache when its key still matches this host, else from KVM (then stored for next
 * time). NULL with errno set when KVM fails. *from_cache says which. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd, bool *from_cache);

/* The pieces, for tests. The key (see the .c) into key[keylen_max >= 1024]. */
int cpuid_cache_key(char *key, size_t keylen_max, size_t *keylen);
/* 0 and out filled (out has room for CPUID_CACHE_MAX_ENTRIES) when path holds a table stored
 * under exactly this key; -errno / -EINVAL (anything wrong with the file) otherwise. */
int cpuid_cache_load(const char *path, const char *key, size_t keylen, struct kvm_cpuid2 *out);
int cpuid_cache_store(const char *path, const char *key, size_t keylen, const struct kvm_cpuid2 *c);

#endif

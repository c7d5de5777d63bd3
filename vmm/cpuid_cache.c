/* vmm/cpuid_cache.c — KVM_GET_SUPPORTED_CPUID asked once per host, not once per launch.
 *
 * The ioctl costs ~0.5 ms here (strace -T: 591 µs, the largest single step before the first
 * KVM_RUN) and returns the same table for every VM until the kernel, the KVM modules or the
 * CPU change. So the table is kept in a file, keyed on exactly those:
 *   - the kernel: uname(2) (release, version, machine) and this boot's boot_id (a reboot
 *     may load another kernel build or other module parameters);
 *   - the KVM modules: inode and ctime of /sys/module/kvm and of the vendor module's
 *     directory (kvm_amd, kvm_intel, kvm_pvm), which are new whenever a module is reloaded,
 *     e.g. with other parameters (nested=...);
 *   - the CPU: the host's CPUID leaves 0 and 1 and 7.0 (vendor, family/model/stepping,
 *     feature words), read with the cpuid instruction;
 *   - this file's format (CACHE_MAGIC) and the table's capacity.
 * Anything else — no cache directory, a file from another key, a short, long or corrupt
 * file, one not owned by us — is a miss: KVM is asked, and the answer stored for next time
 * (written to a temporary file and renamed, so readers never see half a file).
 *
 * Where: $FASTVMM_CACHE_DIR, else $XDG_RUNTIME_DIR/fastvmm, else /run/fastvmm (root) or
 * /tmp/fastvmm-<uid>; the directory must be ours and not writable by others.
 * FASTVMM_CPUID_CACHE=0 disables it. */
#include <cpuid.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cc.h"
#include "cpuid_cache.h"

#define CACHE_MAGIC "fastvmm-cpuid-2\n"
#define KEY_MAX     1024

struct cache_hdr {
	char magic[16];
	uint32_t key_len, nent;
	uint64_t sum; /* FNV-1a over key and entries */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static int key_append(char *key, size_t *len, const char *fmt, ...) PRINTF(3, 4);
static int key_append(char *key, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(key + *len, KEY_MAX - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= KEY_MAX - *len)
		return -E2BIG;
	*len += (size_t)n;
	return 0;
}

static int module_stamp(char *key, size_t *len, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return 0; /* not this vendor's module */
	return key_append(key, len, "%s %llu %lld.%09ld\n", dir, (unsigned long long)st.st_ino,
	                  (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

int cpuid_cache_key(char *key, size_t keylen_max, size_t *keylen)
{
	if (keylen_max < KEY_MAX)
		return -EINVAL;
	size_t len = 0;
	struct utsname u;
	if (uname(&u) < 0)
		return -errno;
	char boot_id[40] = {0};
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, boot_id, sizeof(boot_id) - 1);
	close(fd);
	if (n < 32)
		return -EIO;
	boot_id[n] = 0;
	unsigned a, b, c, d, r = 0;
	r |= key_append(key, &len, "%s\n%s\n%s\n%s\n%s", CACHE_MAGIC, u.release, u.version,
	                u.machine, boot_id);
	r |= module_stamp(key, &len, "/sys/module/kvm");
	r |= module_stamp(key, &len, "/sys/module/kvm_amd");
	r |= module_stamp(key, &len, "/sys/module/kvm_intel");
	r |= module_stamp(key, &len, "/sys/module/kvm_pvm");
	__cpuid(0, a, b, c, d);
	r |= key_append(key, &len, "cpuid0 %x %x %x %x\n", a, b, c, d);
	__cpuid(1, a, b, c, d);
	r |= key_append(key, &len, "cpuid1 %x %x %x\n", a, c, d); /* b: APIC id, per CPU */
	__cpuid_count(7, 0, a, b, c, d);
	r |= key_append(key, &len, "cpuid7 %x %x %x %x\n", a, b, c, d);
	r |= key_append(key, &len, "cap %u\n", CPUID_CACHE_MAX_ENTRIES);
	if (r)
		return -E2BIG;
	*keylen = len;
	return 0;
}

/* The cache directory, made if needed; "" when there is none we can trust. */
static void cache_dir(char *out, size_t outlen)
{
	out[0] = 0;
	uid_t uid = geteuid();
	const char *env = getenv("FASTVMM_CACHE_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(out, outlen, "%s", env);
	else if (xdg && *xdg)
		snprintf(out, outlen, "%s/fastvmm", xdg);
	else if (uid == 0)
		snprintf(out, outlen, "/run/fastvmm");
	else
		snprintf(out, outlen, "/tmp/fastvmm-%u", (unsigned)uid);
	struct stat st;
	if (lstat(out, &st) < 0 && (errno != ENOENT || mkdir(out, 0700) < 0 || lstat(out, &st) < 0))
		goto untrusted;
	/* Ours, a real directory, and nobody else may plant files in it. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 022))
		goto untrusted;
	return;
untrusted:
	out[0] = 0;
}

static int cache_path(char *path, size_t len, const char *key, size_t keylen)
{
	char dir[512];
	cache_dir(dir, sizeof(dir));
	if (!dir[0])
		return -ENOENT;
	int n = snprintf(path, len, "%s/cpuid-%016llx", dir,
	                 (unsigned long long)fnv(0xcbf29ce484222325ULL, key, keylen));
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int cpuid_cache_load(const char *path, const char *key, size_t keylen, struct kvm_cpuid2 *out)
{
	/* One read of the whole file; its directory is ours and closed to others (cache_dir()),
	 * O_NOFOLLOW refuses a planted link, and every field is checked before use. */
	static _Thread_local uint8_t buf[sizeof(struct cache_hdr) + KEY_MAX +
	                                 CPUID_CACHE_MAX_ENTRIES * sizeof(out->entries[0]) + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	struct cache_hdr h;
	if (n < (ssize_t)sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) || h.key_len != keylen || h.nent == 0 ||
	    h.nent > CPUID_CACHE_MAX_ENTRIES - 1)
		return -EINVAL;
	size_t ents = h.nent * sizeof(out->entries[0]);
	if ((size_t)n != sizeof(h) + keylen + ents)
		return -EINVAL; /* short, long, or not this format */
	const uint8_t *k = buf + sizeof(h), *e = k + keylen;
	if (memcmp(k, key, keylen))
		return -EINVAL; /* another key hashed to the same name */
	if (fnv(fnv(0xcbf29ce484222325ULL, key, keylen), e, ents) != h.sum)
		return -EINVAL;
	memcpy(out->entries, e, ents);
	out->nent = h.nent;
	return 0;
}

int cpuid_cache_store(const char *path, const char *key, size_t keylen, const struct kvm_cpuid2 *c)
{
	char tmp[640];
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t ents = c->nent * sizeof(c->entries[0]);
	struct cache_hdr h = {.key_len = (uint32_t)keylen, .nent = c->nent};
	memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
	h.sum = fnv(fnv(0xcbf29ce484222325ULL, key, keylen), c->entries, ents);
	bool ok = write(fd, &h, sizeof(h)) == (ssize_t)sizeof(h) &&
	          write(fd, key, keylen) == (ssize_t)keylen &&
	          write(fd, c->entries, ents) == (ssize_t)ents;
	if (close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		int r = errno ? -errno : -EIO;
		unlink(tmp);
		return r;
	}
	return 0;
}

struct kvm_cpuid2 *cpuid_supported(int kvm_fd, bool *from_cache)
{
	*from_cache = false;
	struct kvm_cpuid2 *c =
	        calloc(1, sizeof(*c) + CPUID_CACHE_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	const char *off = getenv("FASTVMM_CPUID_CACHE");
	bool use = !(off && !strcmp(off, "0"));
	char key[KEY_MAX], path[600];
	size_t keylen = 0;
	if (use && (cpuid_cache_key(key, sizeof(key), &keylen) < 0 ||
	            cache_path(path, sizeof(path), key, keylen) < 0))
		use = false;
	if (use && cpuid_cache_load(path, key, keylen, c) == 0) {
		*from_cache = true;
		return c;
	}
	c->nent = CPUID_CACHE_MAX_ENTRIES - 1; /* one spare slot for the timing leaf */
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int r = errno;
		free(c);
		errno = r;
		return NULL;
	}
	if (use)
		(void)cpuid_cache_store(path, key, keylen, c); /* best effort */
	return c;
}

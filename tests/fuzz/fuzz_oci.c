/* Fuzz target: the OCI runtime's bundle parser (vmm/oci_bundle.c), what every engine's
 * config.json reaches first. Input: config.json's bytes. The bundle directory is made once
 * (a rootfs with a kernel-sized file, a disk image, a symlink out of the rootfs, a FIFO), so
 * that paths in the input resolve against real files. Invariants: a refusal is one line;
 * an accepted bundle has a kernel fd (or is a pod sandbox), a one-line command line, RAM and
 * vCPUs within the VMM's limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "oci.h"

static char dir[64];

static void put_file(const char *rel, size_t size)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)size) < 0)
			__builtin_trap();
		close(fd);
	}
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz_oci.XXXXXX");
	if (!mkdtemp(dir))
		__builtin_trap();
	char p[256];
	snprintf(p, sizeof(p), "%s/rootfs", dir);
	if (mkdir(p, 0755) < 0)
		__builtin_trap();
	snprintf(p, sizeof(p), "%s/rootfs/img", dir);
	if (mkdir(p, 0755) < 0)
		__builtin_trap();
	put_file("rootfs/k.elf", 4096);
	put_file("rootfs/initrd", 512);
	put_file("rootfs/img/d.img", 1 << 20);
	snprintf(p, sizeof(p), "%s/rootfs/escape", dir);
	if (symlink("../../../../etc/passwd", p) < 0)
		__builtin_trap();
	snprintf(p, sizeof(p), "%s/rootfs/fifo", dir);
	mkfifo(p, 0600);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	/* A copy of exactly size bytes on the heap, so ASan sees any read past the end. */
	char *json = malloc(size ? size : 1);
	if (!json)
		return 0;
	memcpy(json, data, size);
	static struct oci_bundle b;
	struct err e = {{0}};
	int r = oci_bundle_parse(&b, dir, json, size, &e);
	free(json);
	if (r < 0) {
		if (!memchr(e.msg, 0, sizeof(e.msg)) || !e.msg[0] || strchr(e.msg, '\n'))
			__builtin_trap(); /* a refusal is one non-empty line */
		return 0;
	}
	if (!b.sandbox) {
		if (b.kernel.fd < 0 || !b.cmdline || strpbrk(b.cmdline, "\r\n"))
			__builtin_trap();
		if (b.mem < VM_MIN_MEM || b.mem > VM_MAX_MEM || b.cpus < 1 ||
		    b.cpus > VM_MAX_CPUS || b.ndisks > VM_MAX_DISKS)
			__builtin_trap();
		struct vm_config cfg;
		oci_bundle_config(&b, &cfg);
	}
	oci_bundle_free(&b);
	return 0;
}

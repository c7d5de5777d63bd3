/* Fuzz target: the snapshot state file's parser (vmm/snapshot_format.c), the first thing
 * `--restore DIR` reads from a file that may be hostile. The first byte picks a mode:
 *   0: the rest is the whole state file, as it is (magic, version, flags, lengths, checksums);
 *   1: the rest is the body: wrapped here in a valid header (both checksums right), so that
 *      every input reaches the section parser instead of failing the checksum;
 *   2: a well-formed snapshot is encoded from a configuration taken from the next bytes
 *      (vCPUs, disks, NICs), the rest of the input is XORed over its body and the checksums
 *      are fixed: mutations deep inside valid sections.
 * Any verdict is fine, but a failure must leave one NUL-terminated line and nothing
 * allocated, and a snapshot that decodes must encode again and decode to the same bytes
 * (encode ∘ decode is idempotent on what the decoder accepts). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "snapshot.h"
#include "virtio.h"

#define HDR SNAP_HDR_LEN

/* A small valid snapshot: n vCPUs, d disks, k NICs. NULL on allocation failure. */
static uint8_t *valid(struct fz *f, size_t *len)
{
	static struct snapshot s;
	memset(&s, 0, sizeof(s));
	s.mem_size = 16 << 20;
	s.cpus = 1 + fz_u8(f) % 2;
	s.ndisks = fz_u8(f) % 3;
	s.nnets = fz_u8(f) % 2;
	s.ndev = s.ndisks + s.nnets;
	s.irqchip = SNAP_IRQCHIP_KERNEL;
	s.acpi = fz_u8(f) & 1;
	snprintf(s.kernel, sizeof(s.kernel), "kernel.elf");
	char cmdline[] = "console=ttyS0";
	s.cmdline = cmdline;
	for (uint32_t i = 0; i < s.ndisks; i++) {
		snprintf(s.disk[i].path, sizeof(s.disk[i].path), "/d%u.img", i);
		s.disk[i].cow = true;
		s.disk[i].size = 1 << 20;
	}
	for (uint32_t i = 0; i < s.ndev; i++) {
		s.dev[i].device_id = i < s.ndisks ? VIRTIO_ID_BLOCK : VIRTIO_ID_NET;
		s.dev[i].nqueues = i < s.ndisks ? 1 : 2;
		for (uint32_t q = 0; q < s.dev[i].nqueues; q++)
			s.dev[i].vq[q] = (struct virtq_state){.num = 256, .ready = 1};
	}
	struct snap_vcpu v[2];
	struct kvm_msr_entry msr = {.index = 0x10};
	struct kvm_cpuid_entry2 cpuid = {.function = 0};
	memset(v, 0, sizeof(v));
	for (uint32_t i = 0; i < s.cpus; i++) {
		v[i].nmsrs = 1;
		v[i].msrs = &msr;
		v[i].ncpuid = 1;
		v[i].cpuid = &cpuid;
	}
	s.vcpu = v;
	uint8_t *out;
	return snapshot_encode(&s, &out, len) == 0 ? out : NULL;
}

static void check(const uint8_t *buf, size_t len)
{
	struct snapshot s;
	struct err e = {0};
	if (snapshot_decode(&s, buf, len, "state", &e) < 0) {
		if (!memchr(e.msg, 0, sizeof(e.msg)) || s.vcpu || s.cmdline)
			__builtin_trap();
		return;
	}
	uint8_t *a, *b;
	size_t alen, blen;
	if (snapshot_encode(&s, &a, &alen) < 0) {
		snapshot_free(&s);
		return;
	}
	snapshot_free(&s);
	if (snapshot_decode(&s, a, alen, "state (re-encoded)", &e) < 0)
		__builtin_trap(); /* the decoder refuses what the encoder wrote */
	if (snapshot_encode(&s, &b, &blen) == 0) {
		if (blen != alen || memcmp(a, b, alen))
			__builtin_trap();
		free(b);
	}
	snapshot_free(&s);
	free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20))
		return 0;
	struct fz f = {data + 1, size - 1};
	uint8_t *buf = NULL;
	size_t len = 0;
	switch (data[0] % 3) {
	case 0:
		buf = malloc(f.n ? f.n : 1);
		if (!buf)
			return 0;
		memcpy(buf, f.p, f.n);
		len = f.n;
		break;
	case 1:
		len = HDR + f.n;
		if (!(buf = malloc(len)))
			return 0;
		memcpy(buf + HDR, f.p, f.n);
		snapshot_seal(buf, len, SNAP_VERSION);
		break;
	case 2:
		if (!(buf = valid(&f, &len)))
			return 0;
		for (size_t i = 0; f.n && i < len - HDR; i++)
			buf[HDR + i] ^= fz_u8(&f);
		snapshot_seal(buf, len, SNAP_VERSION);
		break;
	}
	check(buf, len);
	free(buf);
	return 0;
}

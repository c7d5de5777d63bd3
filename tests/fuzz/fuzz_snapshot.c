/* Fuzz target: the snapshot state parser (vmm/snapshot_format.c), what --restore DIR and a
 * daemon template from a snapshot read first. The first byte chooses:
 *   bit 0: the header's version (1 or 2);
 *   bit 1: the checksums are left wrong (clear: they are made right, so that the fuzzer
 *          reaches the sections instead of stopping at the CRC);
 *   bit 2: instead of taking the rest as the body, a well-formed snapshot is encoded from a
 *          configuration in the next bytes (vCPUs, disks, NICs, irqchip mode) and the rest is
 *          XORed over its body: mutations deep inside valid sections.
 * A failure must be one NUL-terminated line with nothing left allocated; a state that
 * decodes must encode again, decode, and encode to the same bytes (encode ∘ decode is
 * idempotent on what the decoder accepts). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "snapshot.h"
#include "virtio.h"

/* A small valid snapshot from the configuration bytes at f. NULL on allocation failure. */
static uint8_t *valid(struct fz *f, size_t *len)
{
	static struct snapshot s;
	memset(&s, 0, sizeof(s));
	s.mem_size = 16 << 20;
	s.cpus = 1 + fz_u8(f) % 2;
	s.ndisks = fz_u8(f) % 3;
	s.nnets = fz_u8(f) % 2;
	s.ndev = s.ndisks + s.nnets;
	uint8_t mode = fz_u8(f);
	s.irqchip = mode & 1 ? SNAP_IRQCHIP_SPLIT : SNAP_IRQCHIP_KERNEL;
	s.acpi = mode >> 1 & 1;
	if (s.irqchip == SNAP_IRQCHIP_SPLIT)
		s.uioapic.npins = SNAP_IOAPIC_PINS;
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
	struct err e = {{0}};
	if (snapshot_decode(&s, buf, len, "fuzz/state", &e) < 0) {
		if (!memchr(e.msg, 0, sizeof(e.msg)) || strchr(e.msg, '\n') || s.vcpu || s.cmdline)
			__builtin_trap(); /* one line, nothing left allocated */
		return;
	}
	uint8_t *a, *b;
	size_t alen, blen;
	int r = snapshot_encode(&s, &a, &alen);
	snapshot_free(&s);
	if (r < 0)
		return;
	if (snapshot_decode(&s, a, alen, "fuzz/state (re-encoded)", &e) < 0)
		__builtin_trap(); /* what we wrote, we must read */
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
	if (size < 1 || size > (1u << 20))
		return 0;
	uint32_t version = data[0] & 1 ? 2 : 1;
	struct fz f = {data + 1, size - 1};
	uint8_t *buf;
	size_t len;
	if (data[0] & 4) {
		if (!(buf = valid(&f, &len)))
			return 0;
		for (size_t i = SNAP_HDR_LEN; f.n && i < len; i++)
			buf[i] ^= fz_u8(&f);
	} else {
		len = SNAP_HDR_LEN + f.n;
		if (!(buf = malloc(len)))
			return 0;
		memcpy(buf + SNAP_HDR_LEN, f.p, f.n);
	}
	snapshot_seal(buf, len, version);
	if (data[0] & 2)
		memset(buf + 24, 0, 8); /* both checksums wrong (or, by chance, zero) */
	check(buf, len);
	free(buf);
	return 0;
}

/* vmm/snapshot_format.c — struct snapshot <-> the bytes of DIR/state (docs/snapshot.md).
 *
 * Pure: no I/O, no KVM. The file is hostile input: every length is checked against what is
 * left before it is used, every count against its bound, every section must appear exactly as
 * often as the configuration says, and the checksum covers all of it. Integers are little
 * endian (x86 hosts only); the KVM structures are stored as KVM defines them, each with its
 * size, so a layout change is caught as a mismatch and not misread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "virtio.h"
#include "vmm.h"

enum {
	SEC_CONFIG = 1,
	SEC_IRQCHIP = 2,
	SEC_CLOCK = 3,
	SEC_SERIAL = 4,
	SEC_RTC = 5,
	SEC_I8042 = 6,
	SEC_VIRTIO = 7,
	SEC_VCPU = 8,
	SEC_END = 9,
};
#define HDR_LEN SNAP_HDR_LEN

/* CRC-32C (Castagnoli, reflected 0x82f63b78), bytewise with a table built once. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	}
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- writer ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->oom || !n) /* n == 0: src may be NULL (no XSAVE area), which memcpy may not get */
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *q = realloc(w->p, cap);
		if (!q) {
			w->oom = true;
			return;
		}
		w->p = q;
		w->cap = cap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put32(struct wbuf *w, uint32_t v)
{
	put(w, &v, 4);
}

static void put64(struct wbuf *w, uint64_t v)
{
	put(w, &v, 8);
}

static void put_str(struct wbuf *w, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0;
	put32(w, n);
	put(w, s, n);
}

/* A section header whose length is patched by sec_end(). */
static size_t sec_begin(struct wbuf *w, uint32_t type)
{
	put32(w, type);
	put32(w, 0);
	return w->len;
}

static void sec_end(struct wbuf *w, size_t at)
{
	if (!w->oom) {
		uint32_t n = (uint32_t)(w->len - at);
		memcpy(w->p + at - 4, &n, 4);
	}
}

#define PUT_RAW(w, x)                                                                              \
	do {                                                                                       \
		put32(w, (uint32_t)sizeof(x));                                                     \
		put(w, &(x), sizeof(x));                                                           \
	} while (0)

void snapshot_seal(uint8_t *buf, size_t len, uint32_t version)
{
	uint64_t body = len - SNAP_HDR_LEN;
	uint32_t flags = 0, body_crc = crc32c(0, buf + SNAP_HDR_LEN, body);
	memcpy(buf, SNAP_MAGIC, 8);
	memcpy(buf + 8, &version, 4);
	memcpy(buf + 12, &flags, 4);
	memcpy(buf + 16, &body, 8);
	memcpy(buf + 24, &body_crc, 4);
	uint32_t hdr_crc = crc32c(0, buf, 28);
	memcpy(buf + 28, &hdr_crc, 4);
}

int snapshot_encode(const struct snapshot *s, uint8_t **out, size_t *len)
{
	struct wbuf w = {0};
	uint8_t hdr[HDR_LEN] = {0};
	put(&w, hdr, sizeof(hdr)); /* filled in at the end */

	size_t at = sec_begin(&w, SEC_CONFIG);
	put32(&w, s->kernel_fmt);
	put32(&w, s->is_linux);
	put64(&w, s->mem_size);
	put32(&w, s->cpus);
	put32(&w, s->irqchip);
	put32(&w, s->discovery);
	put32(&w, s->acpi);
	put32(&w, s->ndisks);
	put32(&w, s->nnets);
	put64(&w, s->t_snapshot_ns);
	put_str(&w, s->kernel);
	put_str(&w, s->cmdline);
	for (uint32_t i = 0; i < s->ndisks && i < 8; i++) {
		put32(&w, (s->disk[i].ro ? 1u : 0) | (s->disk[i].cow ? 2u : 0));
		put64(&w, s->disk[i].size);
		put_str(&w, s->disk[i].path);
	}
	for (uint32_t i = 0; i < s->nnets && i < 8; i++) {
		put(&w, s->net[i].tap, sizeof(s->net[i].tap));
		put(&w, s->net[i].mac, 6);
		put(&w, "\0\0", 2);
	}
	sec_end(&w, at);

	at = sec_begin(&w, SEC_IRQCHIP);
	PUT_RAW(&w, s->pic[0]);
	PUT_RAW(&w, s->pic[1]);
	PUT_RAW(&w, s->ioapic);
	PUT_RAW(&w, s->pit);
	sec_end(&w, at);
	at = sec_begin(&w, SEC_CLOCK);
	PUT_RAW(&w, s->clock);
	sec_end(&w, at);
	at = sec_begin(&w, SEC_SERIAL);
	PUT_RAW(&w, s->serial);
	sec_end(&w, at);
	at = sec_begin(&w, SEC_RTC);
	PUT_RAW(&w, s->rtc);
	sec_end(&w, at);
	at = sec_begin(&w, SEC_I8042);
	PUT_RAW(&w, s->i8042);
	sec_end(&w, at);
	for (uint32_t i = 0; i < s->ndev && i < 9; i++) {
		at = sec_begin(&w, SEC_VIRTIO);
		put32(&w, i);
		PUT_RAW(&w, s->dev[i]);
		sec_end(&w, at);
	}
	for (uint32_t i = 0; i < s->cpus && s->vcpu; i++) {
		const struct snap_vcpu *v = &s->vcpu[i];
		at = sec_begin(&w, SEC_VCPU);
		put32(&w, i);
		PUT_RAW(&w, v->regs);
		PUT_RAW(&w, v->sregs);
		PUT_RAW(&w, v->fpu);
		PUT_RAW(&w, v->lapic);
		PUT_RAW(&w, v->mp);
		PUT_RAW(&w, v->events);
		PUT_RAW(&w, v->dregs);
		put32(&w, v->have_xcrs);
		PUT_RAW(&w, v->xcrs);
		put32(&w, v->xsave_len);
		put(&w, v->xsave, v->xsave_len);
		put32(&w, v->nmsrs);
		put(&w, v->msrs, v->nmsrs * sizeof(*v->msrs));
		put32(&w, v->ncpuid);
		put(&w, v->cpuid, v->ncpuid * sizeof(*v->cpuid));
		sec_end(&w, at);
	}
	sec_begin(&w, SEC_END);
	if (w.oom) {
		free(w.p);
		return -ENOMEM;
	}
	snapshot_seal(w.p, w.len, s->version ? s->version : SNAP_VERSION);
	*out = w.p;
	*len = w.len;
	return 0;
}

/* ---- reader ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static bool get(struct rbuf *r, void *dst, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return false;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return true;
}

static uint32_t get32(struct rbuf *r)
{
	uint32_t v = 0;
	get(r, &v, 4);
	return v;
}

static uint64_t get64(struct rbuf *r)
{
	uint64_t v = 0;
	get(r, &v, 8);
	return v;
}

/* A string of at most max-1 bytes, no NUL inside; stored NUL-terminated in dst (max bytes). */
static bool get_str(struct rbuf *r, char *dst, size_t max)
{
	uint32_t n = get32(r);
	if (r->bad || n >= max || n > r->len - r->off || memchr(r->p + r->off, 0, n)) {
		r->bad = true;
		return false;
	}
	memcpy(dst, r->p + r->off, n);
	dst[n] = 0;
	r->off += n;
	return true;
}

/* A KVM structure: its stored size must be ours exactly. */
static bool get_raw(struct rbuf *r, void *dst, size_t size)
{
	uint32_t n = get32(r);
	if (n != size)
		r->bad = true;
	return get(r, dst, size);
}
#define GET_RAW(r, x) get_raw(r, &(x), sizeof(x))

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int parse_config(struct snapshot *s, struct rbuf *r, const char *name, struct err *e)
{
	s->kernel_fmt = get32(r);
	s->is_linux = get32(r) != 0;
	s->mem_size = get64(r);
	s->cpus = get32(r);
	s->irqchip = get32(r);
	s->discovery = get32(r);
	uint32_t acpi = get32(r);
	s->acpi = acpi == 1;
	s->ndisks = get32(r);
	s->nnets = get32(r);
	s->t_snapshot_ns = get64(r);
	if (r->bad)
		return err_set(e, -EINVAL, "%s: configuration section truncated", name);
	if (s->mem_size < VM_MIN_MEM || s->mem_size > VM_MAX_MEM || s->mem_size % 4096)
		return err_set(e, -EINVAL, "%s: guest RAM size %llu is not a valid --mem", name,
		               (unsigned long long)s->mem_size);
	if (s->cpus < 1 || s->cpus > VM_MAX_CPUS)
		return err_set(e, -EINVAL, "%s: %u vCPUs (1-%d supported)", name, s->cpus,
		               VM_MAX_CPUS);
	if (s->irqchip != SNAP_IRQCHIP_KERNEL && s->irqchip != SNAP_IRQCHIP_SPLIT)
		return err_set(e, -EINVAL, "%s: unknown irqchip mode %u", name, s->irqchip);
	if (s->kernel_fmt > KF_BZIMAGE || s->discovery > DISCOVERY_BOTH || acpi > 1)
		return err_set(e, -EINVAL, "%s: unknown kernel format or discovery mode", name);
	if (s->ndisks > VM_MAX_DISKS || s->nnets > VM_MAX_NICS ||
	    s->ndisks + s->nnets > VIRTIO_MAX_DEVS)
		return err_set(e, -EINVAL, "%s: %u disks and %u NICs (at most %d, %d, %d in all)",
		               name, s->ndisks, s->nnets, VM_MAX_DISKS, VM_MAX_NICS,
		               VIRTIO_MAX_DEVS);
	char *cmd = malloc(SNAP_CMDLINE_MX);
	if (!cmd)
		return -ENOMEM;
	if (!get_str(r, s->kernel, sizeof(s->kernel)) || !get_str(r, cmd, SNAP_CMDLINE_MX)) {
		free(cmd);
		return err_set(e, -EINVAL, "%s: configuration: bad kernel name or command line",
		               name);
	}
	s->cmdline = cmd;
	for (uint32_t i = 0; i < s->ndisks; i++) {
		uint32_t f = get32(r);
		s->disk[i].ro = f & 1;
		s->disk[i].cow = f & 2;
		s->disk[i].size = get64(r);
		if (!get_str(r, s->disk[i].path, DISK_PATH_MAX) || !s->disk[i].path[0] || f > 3 ||
		    f == 3)
			return err_set(e, -EINVAL, "%s: configuration: disk %u is malformed", name,
			               i);
	}
	for (uint32_t i = 0; i < s->nnets; i++) {
		uint8_t pad[2];
		get(r, s->net[i].tap, sizeof(s->net[i].tap));
		get(r, s->net[i].mac, 6);
		get(r, pad, 2);
		if (r->bad || !memchr(s->net[i].tap, 0, sizeof(s->net[i].tap)))
			return err_set(e, -EINVAL, "%s: configuration: NIC %u is malformed", name,
			               i);
	}
	return 0;
}

static int check_virtio(const struct snapshot *s, uint32_t i, const char *name, struct err *e)
{
	const struct virtio_state *d = &s->dev[i];
	uint32_t want = i < s->ndisks ? VIRTIO_ID_BLOCK : VIRTIO_ID_NET;
	if (d->device_id != want)
		return err_set(e, -EINVAL,
		               "%s: virtio device %u has id %u, the configuration "
		               "says %u",
		               name, i, d->device_id, want);
	if (d->nqueues > SNAP_VQ_MAX || d->config_len > SNAP_CFG_MAX || d->queue_sel > 0xffff)
		return err_set(e, -EINVAL, "%s: virtio device %u: bad queue count or config size",
		               name, i);
	for (uint32_t q = 0; q < d->nqueues; q++) {
		const struct virtq_state *v = &d->vq[q];
		if (v->ready && (!pow2(v->num) || v->num > VIRTQ_MAX_SIZE))
			return err_set(e, -EINVAL, "%s: virtio device %u queue %u: size %u", name,
			               i, q, v->num);
	}
	return 0;
}

static int parse_vcpu(struct snap_vcpu *v, struct rbuf *r)
{
	GET_RAW(r, v->regs);
	GET_RAW(r, v->sregs);
	GET_RAW(r, v->fpu);
	GET_RAW(r, v->lapic);
	GET_RAW(r, v->mp);
	GET_RAW(r, v->events);
	GET_RAW(r, v->dregs);
	v->have_xcrs = get32(r) != 0;
	GET_RAW(r, v->xcrs);
	if (v->xcrs.nr_xcrs > KVM_MAX_XCRS)
		r->bad = true;
	v->xsave_len = get32(r);
	if (r->bad || v->xsave_len > SNAP_XSAVE_MAX || v->xsave_len % 4 ||
	    (v->xsave_len && v->xsave_len < sizeof(struct kvm_xsave)))
		return -EINVAL;
	if (v->xsave_len) {
		v->xsave = malloc(v->xsave_len);
		if (!v->xsave)
			return -ENOMEM;
		if (!get(r, v->xsave, v->xsave_len))
			return -EINVAL;
	}
	v->nmsrs = get32(r);
	if (r->bad || v->nmsrs > SNAP_MSRS_MAX)
		return -EINVAL;
	v->msrs = calloc(v->nmsrs ? v->nmsrs : 1, sizeof(*v->msrs));
	if (!v->msrs)
		return -ENOMEM;
	if (!get(r, v->msrs, v->nmsrs * sizeof(*v->msrs)))
		return -EINVAL;
	v->ncpuid = get32(r);
	if (r->bad || v->ncpuid > SNAP_CPUID_MAX || !v->ncpuid)
		return -EINVAL;
	v->cpuid = calloc(v->ncpuid, sizeof(*v->cpuid));
	if (!v->cpuid)
		return -ENOMEM;
	if (!get(r, v->cpuid, v->ncpuid * sizeof(*v->cpuid)))
		return -EINVAL;
	return 0;
}

static const char *const sec_name[] = {
        [SEC_CONFIG] = "configuration", [SEC_IRQCHIP] = "irqchip", [SEC_CLOCK] = "clock",
        [SEC_SERIAL] = "serial",        [SEC_RTC] = "rtc",         [SEC_I8042] = "i8042",
        [SEC_VIRTIO] = "virtio",        [SEC_VCPU] = "vcpu",       [SEC_END] = "end",
};

static int decode(struct snapshot *s, const uint8_t *buf, size_t len, const char *name,
                  struct err *e)
{
	if (len < HDR_LEN)
		return err_set(e, -EINVAL, "%s: truncated (%zu bytes, the header alone is %d)",
		               name, len, HDR_LEN);
	if (memcmp(buf, SNAP_MAGIC, 8))
		return err_set(e, -EINVAL, "%s: not a fastvmm snapshot (bad magic)", name);
	uint32_t version, flags, body_crc, hdr_crc;
	uint64_t body;
	memcpy(&version, buf + 8, 4);
	memcpy(&flags, buf + 12, 4);
	memcpy(&body, buf + 16, 8);
	memcpy(&body_crc, buf + 24, 4);
	memcpy(&hdr_crc, buf + 28, 4);
	if (crc32c(0, buf, 28) != hdr_crc)
		return err_set(e, -EINVAL, "%s: header checksum mismatch", name);
	if (version != SNAP_VERSION)
		return err_set(e, -EINVAL, "%s: format version %u, this fastvmm reads version %d",
		               name, version, SNAP_VERSION);
	if (flags)
		return err_set(e, -EINVAL, "%s: unknown flags 0x%x", name, flags);
	if (body != len - HDR_LEN)
		return err_set(e, -EINVAL,
		               "%s: %s (header says %llu bytes of state, file has "
		               "%zu)",
		               name, body > len - HDR_LEN ? "truncated" : "trailing bytes",
		               (unsigned long long)body, len - HDR_LEN);
	if (crc32c(0, buf + HDR_LEN, body) != body_crc)
		return err_set(e, -EINVAL, "%s: checksum mismatch (the state is corrupt)", name);
	s->version = version;

	struct rbuf r = {.p = buf, .len = len, .off = HDR_LEN};
	unsigned seen[SEC_END + 1] = {0};
	bool dev_seen[9] = {0}, vcpu_seen[VM_MAX_CPUS] = {0};
	for (;;) {
		uint32_t type = get32(&r), slen = get32(&r);
		if (r.bad || slen > r.len - r.off)
			return err_set(e, -EINVAL, "%s: section header or length past the end",
			               name);
		if (type < SEC_CONFIG || type > SEC_END)
			return err_set(e, -EINVAL, "%s: unknown section type %u", name, type);
		if (type != SEC_CONFIG && !seen[SEC_CONFIG])
			return err_set(e, -EINVAL, "%s: the configuration section must come first",
			               name);
		if (type != SEC_VIRTIO && type != SEC_VCPU && seen[type])
			return err_set(e, -EINVAL, "%s: %s section appears twice", name,
			               sec_name[type]);
		seen[type]++;
		if (type == SEC_END) {
			if (slen || r.off != r.len)
				return err_set(e, -EINVAL, "%s: data after the end section", name);
			break;
		}
		struct rbuf sr = {.p = buf, .len = r.off + slen, .off = r.off};
		r.off += slen;
		int rc = 0;
		uint32_t idx;
		switch (type) {
		case SEC_CONFIG:
			rc = parse_config(s, &sr, name, e);
			if (rc < 0)
				return rc;
			s->vcpu = calloc(s->cpus, sizeof(*s->vcpu));
			if (!s->vcpu)
				return -ENOMEM;
			break;
		case SEC_IRQCHIP:
			GET_RAW(&sr, s->pic[0]);
			GET_RAW(&sr, s->pic[1]);
			GET_RAW(&sr, s->ioapic);
			GET_RAW(&sr, s->pit);
			break;
		case SEC_CLOCK:
			GET_RAW(&sr, s->clock);
			break;
		case SEC_SERIAL:
			GET_RAW(&sr, s->serial);
			if (s->serial.rx_head >= 64 || s->serial.rx_count > 64)
				return err_set(e, -EINVAL, "%s: serial: receive FIFO out of range",
				               name);
			break;
		case SEC_RTC:
			GET_RAW(&sr, s->rtc);
			if (s->rtc.index > 0x7f)
				return err_set(e, -EINVAL, "%s: rtc: index out of range", name);
			break;
		case SEC_I8042:
			GET_RAW(&sr, s->i8042);
			break;
		case SEC_VIRTIO:
			idx = get32(&sr);
			if (sr.bad || idx >= s->ndisks + s->nnets || dev_seen[idx])
				return err_set(e, -EINVAL,
				               "%s: virtio section for a device the configuration "
				               "does not have (or twice)",
				               name);
			dev_seen[idx] = true;
			GET_RAW(&sr, s->dev[idx]);
			if (!sr.bad && (rc = check_virtio(s, idx, name, e)) < 0)
				return rc;
			break;
		case SEC_VCPU:
			idx = get32(&sr);
			if (sr.bad || idx >= s->cpus || vcpu_seen[idx])
				return err_set(
				        e, -EINVAL,
				        "%s: vCPU section %u does not fit %u vCPUs (or twice)",
				        name, idx, s->cpus);
			vcpu_seen[idx] = true;
			rc = parse_vcpu(&s->vcpu[idx], &sr);
			if (rc == -ENOMEM)
				return rc;
			if (rc < 0)
				return err_set(e, -EINVAL, "%s: vCPU %u state is malformed", name,
				               idx);
			break;
		}
		if (sr.bad || sr.off != sr.len)
			return err_set(e, -EINVAL, "%s: %s section is malformed (size mismatch)",
			               name, sec_name[type]);
	}
	static const int required[] = {SEC_CONFIG, SEC_IRQCHIP, SEC_CLOCK,
	                               SEC_SERIAL, SEC_RTC,     SEC_I8042};
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!seen[required[i]])
			return err_set(e, -EINVAL, "%s: no %s section", name,
			               sec_name[required[i]]);
	if (seen[SEC_VCPU] != s->cpus)
		return err_set(e, -EINVAL, "%s: %u vCPU sections for %u vCPUs", name,
		               seen[SEC_VCPU], s->cpus);
	s->ndev = s->ndisks + s->nnets;
	if (seen[SEC_VIRTIO] != s->ndev)
		return err_set(e, -EINVAL, "%s: %u virtio sections for %u devices", name,
		               seen[SEC_VIRTIO], s->ndev);
	return 0;
}

int snapshot_decode(struct snapshot *s, const uint8_t *buf, size_t len, const char *name,
                    struct err *e)
{
	memset(s, 0, sizeof(*s));
	s->mem_fd = -1;
	int r = decode(s, buf, len, name, e);
	if (r == -ENOMEM)
		err_set(e, r, "%s: out of memory", name);
	if (r < 0)
		snapshot_free(s);
	return r;
}

void snapshot_free(struct snapshot *s)
{
	if (s->vcpu)
		for (uint32_t i = 0; i < s->cpus; i++) {
			free(s->vcpu[i].xsave);
			free(s->vcpu[i].msrs);
			free(s->vcpu[i].cpuid);
		}
	free(s->vcpu);
	free(s->cmdline);
	s->vcpu = NULL;
	s->cmdline = NULL;
}

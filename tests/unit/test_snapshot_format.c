/* Unit tests: the snapshot state format (vmm/snapshot_format.c) — a round trip keeps every
 * field, and each kind of hostile file is refused with one line naming the file and the
 * problem, leaving nothing allocated (ASan checks the latter). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_parse.h"
#include "config.h"
#include "snapshot.h"
#include "virtio.h"

#define NAME "snap/state"

/* A plausible 2-vCPU snapshot with a disk and a NIC. */
static void sample(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->version = SNAP_VERSION;
	strcpy(s->kernel, "guests/count.elf");
	s->kernel_fmt = KF_ELF;
	s->cmdline = (char *)"to=12 snap=5";
	s->mem_size = 128 * MiB;
	s->cpus = 2;
	s->irqchip = SNAP_IRQCHIP_KERNEL;
	s->ndisks = 1;
	s->nnets = 1;
	s->ndev = 2;
	strcpy(s->disk[0].path, "/tmp/disk.img");
	s->disk[0].size = 1 << 20;
	strcpy(s->net[0].tap, "fv%u");
	memcpy(s->net[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
	s->pic[0].chip_id = 0;
	s->pic[1].chip_id = 1;
	s->ioapic.chip_id = 2;
	s->ioapic.chip.ioapic.base_address = 0xfec00000;
	s->pit.channels[0].count = 0x1234;
	s->clock.clock = 987654321;
	s->serial.ier = 5;
	s->serial.rx_head = 3;
	s->serial.rx_count = 2;
	s->serial.rx[3] = 'h';
	s->rtc.index = 0x0b;
	s->rtc.ram[0x20] = 0x42;
	s->i8042.outport = 1;
	s->dev[0].device_id = VIRTIO_ID_BLOCK;
	s->dev[0].nqueues = 1;
	s->dev[0].vq[0] = (struct virtq_state){
	        .num = 256, .ready = 1, .last_avail = 17, .used_idx = 17, .desc_gpa = 0x100000};
	s->dev[1].device_id = VIRTIO_ID_NET;
	s->dev[1].nqueues = 2;
	s->dev[1].features = 1ULL << 32;
	s->vcpu = calloc(2, sizeof(*s->vcpu));
	for (unsigned i = 0; i < 2; i++) {
		struct snap_vcpu *v = &s->vcpu[i];
		v->regs.rip = 0x100000 + i;
		v->regs.rax = 0xdeadbeef;
		v->sregs.cr3 = 0x9000;
		v->lapic.regs[0x20] = (char)i;
		v->mp.mp_state = i ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE;
		v->xsave_len = 4096;
		v->xsave = calloc(1, 4096);
		v->xsave[4095] = 0x5a;
		v->have_xcrs = true;
		v->xcrs.nr_xcrs = 1;
		v->xcrs.xcrs[0].value = 3;
		v->nmsrs = 3;
		v->msrs = calloc(3, sizeof(*v->msrs));
		v->msrs[0] = (struct kvm_msr_entry){.index = 0x10, .data = 0x1111};
		v->msrs[2] = (struct kvm_msr_entry){.index = 0x4b564d01, .data = 0x2001};
		v->ncpuid = 2;
		v->cpuid = calloc(2, sizeof(*v->cpuid));
		v->cpuid[1].function = 0x40000000;
	}
}

static void sample_free(struct snapshot *s)
{
	s->cmdline = NULL; /* static */
	snapshot_free(s);
}

static uint8_t *encode(struct snapshot *s, size_t *len)
{
	uint8_t *buf;
	assert_int_equal(snapshot_encode(s, &buf, len), 0);
	return buf;
}

/* Encoding what was decoded gives the same bytes; frees both. */
static void reencodes_and_frees(struct snapshot *d, uint8_t *buf, size_t len)
{
	size_t len2;
	uint8_t *buf2 = encode(d, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	snapshot_free(d);
}

/* Recompute both checksums after an edit, so that the check under test is the one hit. */
static void refix(uint8_t *buf, size_t len)
{
	uint64_t body = len - 32;
	memcpy(buf + 16, &body, 8);
	uint32_t k = crc32c(0, buf + 32, body);
	memcpy(buf + 24, &k, 4);
	k = crc32c(0, buf, 28);
	memcpy(buf + 28, &k, 4);
}

static void expect_reject(const uint8_t *buf, size_t len, const char *why)
{
	struct snapshot d;
	struct err er = {{0}};
	assert_int_equal(snapshot_decode(&d, buf, len, NAME, &er), -EINVAL);
	if (!strstr(er.msg, why) || strncmp(er.msg, NAME ": ", strlen(NAME) + 2))
		fail_msg("message '%s' lacks '%s'", er.msg, why);
	assert_null(strchr(er.msg, '\n'));
	assert_null(d.vcpu);
	assert_null(d.cmdline);
}

static void crc32c_known_answer(void **state)
{
	(void)state;
	/* RFC 3720 B.4: 32 bytes of zeros, and the "123456789" check value. */
	uint8_t z[32] = {0};
	assert_int_equal(crc32c(0, z, sizeof(z)), 0x8a9136aa);
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
}

static void round_trip(void **state)
{
	(void)state;
	struct snapshot s, d;
	sample(&s);
	size_t len;
	uint8_t *buf = encode(&s, &len);
	struct err er = {{0}};
	assert_int_equal(snapshot_decode(&d, buf, len, NAME, &er), 0);
	assert_string_equal(d.kernel, s.kernel);
	assert_string_equal(d.cmdline, s.cmdline);
	assert_int_equal(d.mem_size, s.mem_size);
	assert_int_equal(d.cpus, 2);
	assert_int_equal(d.ndev, 2);
	assert_string_equal(d.disk[0].path, "/tmp/disk.img");
	assert_int_equal(d.disk[0].size, 1 << 20);
	assert_string_equal(d.net[0].tap, "fv%u");
	assert_memory_equal(d.net[0].mac, s.net[0].mac, 6);
	assert_memory_equal(&d.ioapic, &s.ioapic, sizeof(s.ioapic));
	assert_memory_equal(&d.pit, &s.pit, sizeof(s.pit));
	assert_int_equal(d.clock.clock, 987654321);
	assert_memory_equal(&d.serial, &s.serial, sizeof(s.serial));
	assert_memory_equal(&d.rtc, &s.rtc, sizeof(s.rtc));
	assert_memory_equal(&d.dev[0], &s.dev[0], sizeof(s.dev[0]));
	assert_memory_equal(&d.dev[1], &s.dev[1], sizeof(s.dev[1]));
	for (unsigned i = 0; i < 2; i++) {
		const struct snap_vcpu *a = &s.vcpu[i], *b = &d.vcpu[i];
		assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
		assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
		assert_memory_equal(&a->lapic, &b->lapic, sizeof(a->lapic));
		assert_memory_equal(&a->mp, &b->mp, sizeof(a->mp));
		assert_true(b->have_xcrs);
		assert_memory_equal(&a->xcrs, &b->xcrs, sizeof(a->xcrs));
		assert_int_equal(b->xsave_len, 4096);
		assert_memory_equal(a->xsave, b->xsave, 4096);
		assert_int_equal(b->nmsrs, 3);
		assert_memory_equal(a->msrs, b->msrs, 3 * sizeof(*a->msrs));
		assert_int_equal(b->ncpuid, 2);
		assert_memory_equal(a->cpuid, b->cpuid, 2 * sizeof(*a->cpuid));
	}
	reencodes_and_frees(&d, buf, len);
	sample_free(&s);
}

/* The split irqchip (format version 2): the userspace IOAPIC's record instead of KVM's. */
static void split_sample(struct snapshot *s)
{
	sample(s);
	s->irqchip = SNAP_IRQCHIP_SPLIT;
	memset(&s->pic, 0, sizeof(s->pic));
	memset(&s->ioapic, 0, sizeof(s->ioapic));
	memset(&s->pit, 0, sizeof(s->pit));
	struct ioapic_state *a = &s->uioapic;
	a->npins = SNAP_IOAPIC_PINS;
	a->id = 2;
	a->ioregsel = 0x1a;
	a->line = 1u << 9;
	for (unsigned i = 0; i < SNAP_IOAPIC_PINS; i++)
		a->rte[i] = 1ull << 16;                 /* masked */
	a->rte[5] = 0x31;                               /* virtio-blk: edge, vector 0x31 */
	a->rte[9] = 0x0300000000000000ull | 0xc041;     /* level, remote IRR, dest 3 */
	a->rte[4] = (1ull << 16) | (1ull << 15) | 0x30; /* masked level */
	a->pic_imr[0] = a->pic_imr[1] = 0xff;
	a->pic_icw_left[1] = 2;
	a->pic_icw4[1] = 1;
}

static void split_round_trip(void **state)
{
	(void)state;
	struct snapshot s, d;
	split_sample(&s);
	size_t len;
	uint8_t *buf = encode(&s, &len);
	uint32_t version;
	memcpy(&version, buf + 8, 4);
	assert_int_equal(version, 2);
	struct err er = {{0}};
	assert_int_equal(snapshot_decode(&d, buf, len, NAME, &er), 0);
	assert_int_equal(d.version, 2);
	assert_int_equal(d.irqchip, SNAP_IRQCHIP_SPLIT);
	assert_memory_equal(&d.uioapic, &s.uioapic, sizeof(s.uioapic));
	/* nothing of the in-kernel irqchip is made up */
	struct kvm_irqchip zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&d.ioapic, &zero, sizeof(zero));
	reencodes_and_frees(&d, buf, len);
	sample_free(&s);
}

/* Offset of the first section of type t in an encoded snapshot (its header), or 0. */
static size_t find_section(const uint8_t *buf, size_t len, uint32_t t)
{
	for (size_t off = 32; off + 8 <= len;) {
		uint32_t type, slen;
		memcpy(&type, buf + off, 4);
		memcpy(&slen, buf + off + 4, 4);
		if (type == t)
			return off;
		off += 8 + slen;
	}
	return 0;
}

static void split_rejects(void **state)
{
	(void)state;
	struct snapshot s;
	size_t len;
	uint8_t *buf;
	/* Each hostile record, re-encoded with valid checksums so that its own check is hit. */
	struct {
		const char *why;
		int field;
	} cases[] = {
	        {"split irqchip: pin count is not 24", 0},
	        {"split irqchip: id or register select out of range", 1},
	        {"split irqchip: id or register select out of range", 2},
	        {"split irqchip: an input line beyond pin 23 is asserted", 3},
	        {"split irqchip: a redirection entry has delivery status set", 4},
	        {"split irqchip: an edge-triggered redirection entry has remote IRR set", 5},
	        {"split irqchip: 8259 guard state out of range", 6},
	        {"split irqchip: 8259 guard state out of range", 7},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		split_sample(&s);
		struct ioapic_state *a = &s.uioapic;
		switch (cases[i].field) {
		case 0:
			a->npins = 23;
			break;
		case 1:
			a->id = 16;
			break;
		case 2:
			a->ioregsel = 0x100;
			break;
		case 3:
			a->line = 1u << 24;
			break;
		case 4:
			a->rte[7] |= 1ull << 12;
			break;
		case 5:
			a->rte[5] |= 1ull << 14;
			break;
		case 6:
			a->pic_icw_left[0] = 4;
			break;
		case 7:
			a->pic_icw4[1] = 2;
			break;
		}
		buf = encode(&s, &len);
		expect_reject(buf, len, cases[i].why);
		free(buf);
		sample_free(&s);
	}

	/* A truncated record: the section one byte shorter (moved up, checksums fixed). */
	split_sample(&s);
	buf = encode(&s, &len);
	sample_free(&s);
	size_t at = find_section(buf, len, 10);
	assert_true(at > 0);
	uint32_t slen;
	memcpy(&slen, buf + at + 4, 4);
	memmove(buf + at + 8 + slen - 1, buf + at + 8 + slen, len - (at + 8 + slen));
	slen--;
	memcpy(buf + at + 4, &slen, 4);
	refix(buf, len - 1);
	expect_reject(buf, len - 1, "split irqchip section is malformed (size mismatch)");
	/* ... and its stored structure size wrong. */
	free(buf);
	split_sample(&s);
	buf = encode(&s, &len);
	sample_free(&s);
	at = find_section(buf, len, 10);
	uint32_t size = (uint32_t)sizeof(struct ioapic_state) - 8;
	memcpy(buf + at + 8, &size, 4);
	refix(buf, len);
	expect_reject(buf, len, "split irqchip section is malformed");
	free(buf);
	/* The section twice: a copy inserted right after it. */
	split_sample(&s);
	buf = encode(&s, &len);
	sample_free(&s);
	at = find_section(buf, len, 10);
	memcpy(&size, buf + at + 4, 4);
	size_t sec = 8 + size;
	uint8_t *b2 = malloc(len + sec);
	memcpy(b2, buf, at + sec);
	memcpy(b2 + at + sec, buf + at, sec);
	memcpy(b2 + at + 2 * sec, buf + at + sec, len - at - sec);
	refix(b2, len + sec);
	expect_reject(b2, len + sec, "split irqchip section appears twice");
	free(b2);
	free(buf);

	/* The mode and the section must agree: a split snapshot with KVM's irqchip section,
	 * an in-kernel one with the split record, and a split one with neither. */
	split_sample(&s);
	s.irqchip = SNAP_IRQCHIP_KERNEL;
	buf = encode(&s, &len); /* writes the irqchip section ... */
	sample_free(&s);
	uint32_t mode = SNAP_IRQCHIP_SPLIT; /* ... under a configuration that says split */
	memcpy(buf + 60, &mode, 4);         /* configuration: irqchip */
	refix(buf, len);
	expect_reject(buf, len, "an in-kernel irqchip section in a snapshot of the split irqchip");
	free(buf);
	split_sample(&s);
	buf = encode(&s, &len);
	sample_free(&s);
	mode = SNAP_IRQCHIP_KERNEL;
	memcpy(buf + 60, &mode, 4); /* configuration: irqchip */
	refix(buf, len);
	expect_reject(buf, len, "a split irqchip section in a snapshot of the in-kernel irqchip");
	/* The split section's type changed to one nobody knows ... and removed altogether. */
	at = find_section(buf, len, 10);
	memcpy(&size, buf + at + 4, 4);
	mode = SNAP_IRQCHIP_SPLIT;
	memcpy(buf + 60, &mode, 4); /* configuration: irqchip */
	memmove(buf + at, buf + at + 8 + size, len - (at + 8 + size));
	refix(buf, len - 8 - size);
	expect_reject(buf, len - 8 - size, "no split irqchip section");
	free(buf);
}

/* Version 1 (in-kernel irqchip only) is still read; a split record in it is not. */
static void reads_version_1(void **state)
{
	(void)state;
	struct snapshot s, d;
	sample(&s);
	s.version = 1;
	size_t len;
	uint8_t *buf = encode(&s, &len);
	sample_free(&s);
	struct err er = {{0}};
	assert_int_equal(snapshot_decode(&d, buf, len, NAME, &er), 0);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.irqchip, SNAP_IRQCHIP_KERNEL);
	assert_int_equal(d.ioapic.chip.ioapic.base_address, 0xfec00000);
	snapshot_free(&d);
	free(buf);

	split_sample(&s);
	s.version = 1;
	buf = encode(&s, &len);
	sample_free(&s);
	expect_reject(buf, len, "unknown section type 10");
	free(buf);
}

static void rejects_header(void **state)
{
	(void)state;
	struct snapshot s;
	sample(&s);
	size_t len;
	uint8_t *buf = encode(&s, &len);
	sample_free(&s);
	uint8_t *b = malloc(len + 8);

	expect_reject(buf, 10, "truncated (10 bytes");
	for (size_t cut = 32; cut < len; cut += len / 7) /* every cut is caught */
		expect_reject(buf, cut, "truncated");

	memcpy(b, buf, len);
	b[0] = 'X';
	expect_reject(b, len, "not a fastvmm snapshot");

	memcpy(b, buf, len);
	b[9] ^= 1;
	expect_reject(b, len, "header checksum mismatch");

	memcpy(b, buf, len);
	uint32_t v = SNAP_VERSION + 1;
	memcpy(b + 8, &v, 4);
	refix(b, len);
	expect_reject(b, len, "format version 3, this fastvmm reads versions 1 to 2");
	v = 0;
	memcpy(b + 8, &v, 4);
	refix(b, len);
	expect_reject(b, len, "format version 0");

	memcpy(b, buf, len);
	b[12] = 1;
	refix(b, len);
	expect_reject(b, len, "unknown flags");

	memcpy(b, buf, len);
	b[len / 2] ^= 0x40;
	expect_reject(b, len, "checksum mismatch (the state is corrupt)");

	memcpy(b, buf, len);
	memset(b + len, 0, 8);
	uint32_t k = crc32c(0, b, 28); /* header still says len: 8 stray bytes */
	memcpy(b + 28, &k, 4);
	expect_reject(b, len + 8, "trailing bytes");

	free(b);
	free(buf);
}

/* Hand-made bodies: sections in the wrong order, twice, unknown, malformed. */
static void rejects_sections(void **state)
{
	(void)state;
	struct snapshot s;
	sample(&s);
	size_t len;
	uint8_t *buf = encode(&s, &len);
	sample_free(&s);
	uint8_t *b = malloc(len + 64);
	/* The first section is the configuration: its type field is at offset 32. */
	memcpy(b, buf, len);
	uint32_t t = 77;
	memcpy(b + 32, &t, 4);
	refix(b, len);
	expect_reject(b, len, "unknown section type 77");

	memcpy(b, buf, len);
	t = 2; /* irqchip first */
	memcpy(b + 32, &t, 4);
	refix(b, len);
	expect_reject(b, len, "the configuration section must come first");

	memcpy(b, buf, len);
	uint32_t big = 0x7fffffff;
	memcpy(b + 36, &big, 4);
	refix(b, len);
	expect_reject(b, len, "past the end");

	/* Drop the end section (the last 8 bytes). */
	memcpy(b, buf, len);
	refix(b, len - 8);
	expect_reject(b, len - 8, "past the end");

	/* Anything after the end section. */
	memcpy(b, buf, len);
	memcpy(b + len, buf + len - 8, 8);
	refix(b, len + 8);
	expect_reject(b, len + 8, "data after the end section");
	free(b);
	free(buf);
}

/* State that does not fit itself: counts, sizes, devices. */
static void rejects_misfits(void **state)
{
	(void)state;
	struct snapshot s;
	size_t len;
	uint8_t *buf;

	sample(&s);
	s.mem_size = 12345;
	buf = encode(&s, &len);
	expect_reject(buf, len, "guest RAM size 12345 is not a valid --mem");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.cpus = 0;
	buf = encode(&s, &len);
	expect_reject(buf, len, "0 vCPUs");
	free(buf);
	s.cpus = 2;
	sample_free(&s);

	/* The configuration's vCPU count (at offset 56) against the vCPU sections present. */
	sample(&s);
	buf = encode(&s, &len);
	sample_free(&s);
	uint32_t cpus = 3;
	memcpy(buf + 56, &cpus, 4);
	refix(buf, len);
	expect_reject(buf, len, "2 vCPU sections for 3 vCPUs");
	cpus = 1;
	memcpy(buf + 56, &cpus, 4);
	refix(buf, len);
	expect_reject(buf, len, "vCPU section 1 does not fit 1 vCPUs");
	free(buf);

	sample(&s);
	s.vcpu[1].ncpuid = 0; /* a vCPU without CPUID cannot be restored */
	buf = encode(&s, &len);
	expect_reject(buf, len, "vCPU 1 state is malformed");
	free(buf);
	s.vcpu[1].ncpuid = 2;
	sample_free(&s);

	sample(&s);
	s.irqchip = 9;
	buf = encode(&s, &len);
	expect_reject(buf, len, "unknown irqchip mode 9");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.dev[0].device_id = VIRTIO_ID_NET;
	buf = encode(&s, &len);
	expect_reject(buf, len, "virtio device 0 has id 1, the configuration says 2");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.ndev = 1; /* the NIC's state is missing */
	buf = encode(&s, &len);
	expect_reject(buf, len, "1 virtio sections for 2 devices");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.dev[0].vq[0].num = 100;
	buf = encode(&s, &len);
	expect_reject(buf, len, "queue 0: size 100");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.serial.rx_head = 64;
	buf = encode(&s, &len);
	expect_reject(buf, len, "serial: receive FIFO out of range");
	free(buf);
	sample_free(&s);

	sample(&s);
	s.ndisks = 9;
	buf = encode(&s, &len);
	expect_reject(buf, len, "9 disks and 1 NICs");
	free(buf);
	s.ndisks = 1;
	sample_free(&s);

	sample(&s);
	s.vcpu[1].nmsrs = SNAP_MSRS_MAX + 1;
	free(s.vcpu[1].msrs);
	s.vcpu[1].msrs = calloc(SNAP_MSRS_MAX + 1, sizeof(*s.vcpu[1].msrs));
	buf = encode(&s, &len);
	expect_reject(buf, len, "vCPU 1 state is malformed");
	free(buf);
	sample_free(&s);
}

static void parse_at(void **state)
{
	(void)state;
	struct snapshot_request r = {0};
	assert_int_equal(snapshot_parse_at("ready", &r, &e), 0);
	assert_int_equal(r.at, SNAP_AT_READY);
	assert_int_equal(snapshot_parse_at("exit-port", &r, &e), 0);
	assert_int_equal(r.at, SNAP_AT_PORT);
	assert_int_equal(snapshot_parse_at("0.5", &r, &e), 0);
	assert_int_equal(r.at, SNAP_AT_SECONDS);
	assert_int_equal(r.after_ms, 500);
	assert_int_equal(snapshot_parse_at("line:^login:", &r, &e), 0);
	assert_int_equal(r.at, SNAP_AT_LINE);
	assert_string_equal(r.pattern, "^login:");
	assert_int_equal(snapshot_parse_at("line:(", &r, &e), -EINVAL);
	assert_int_equal(snapshot_parse_at("soon", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--snapshot-at: 'soon'"));
}

static void cli_flags(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--snapshot", "/tmp/s"), CONFIG_RUN);
	assert_string_equal(c.snap.dir, "/tmp/s");
	assert_int_equal(c.snap.at, SNAP_AT_READY); /* the default point */
	assert_false(c.snap.stop_after);
	assert_int_equal(PARSE("--snapshot", "d", "--snapshot-at", "2", "--snapshot-then", "stop"),
	                 CONFIG_RUN);
	assert_int_equal(c.snap.after_ms, 2000);
	assert_true(c.snap.stop_after);
	assert_int_equal(PARSE("--restore", "d", "-n", "30"), CONFIG_RUN);
	assert_string_equal(c.restore, "d");
	assert_int_equal(c.n, 30);
	REJ("--snapshot-at: only with --snapshot DIR", "--snapshot-at", "ready");
	REJ("--snapshot-then: 'later' is not continue or stop", "--snapshot", "d",
	    "--snapshot-then", "later");
	REJ("--snapshot-then: only with --snapshot DIR", "--snapshot-then", "stop");
	REJ("--kernel: not with --restore (the snapshot fixes the configuration)", "--restore", "d",
	    "--kernel", "k");
	REJ("--mem: not with --restore (the snapshot fixes the configuration)", "--mem", "64M",
	    "--restore", "d");
	REJ("--snapshot: not with --restore", "--restore", "d", "--snapshot", "e");
	REJ("--snapshot: not with -n (snapshot one VM, restore it with --restore DIR -n N)",
	    "--snapshot", "d", "-n", "2");
	REJ("--restore: empty directory name", "--restore", "");
	REJ("--snapshot-at: 'x' is not ready, exit-port, line:REGEX or a number of seconds",
	    "--snapshot", "d", "--snapshot-at", "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(crc32c_known_answer), cmocka_unit_test(round_trip),
	        cmocka_unit_test(rejects_header),      cmocka_unit_test(rejects_sections),
	        cmocka_unit_test(rejects_misfits),     cmocka_unit_test(parse_at),
	        cmocka_unit_test(cli_flags),           cmocka_unit_test(split_round_trip),
	        cmocka_unit_test(split_rejects),       cmocka_unit_test(reads_version_1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

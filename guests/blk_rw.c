/* guests/blk_rw.c — virtio-blk through a tiny polled driver: writes a pattern to sector
 * `sector=` (default 8) split over two data descriptors, flushes (no data descriptor), reads
 * it back, verifies, asks for the device ID, zeroes sector+1 with WRITE_ZEROES (if offered) and
 * checks it reads back as zeros (wz=0: skipped), and exits 0. A write refused with IOERR (ro disk)
 * prints "blk_rw: write status 1" and exits 3; any other failure exits 1.
 * irq=1: every request waits in HLT for the device's interrupt (its IOAPIC pin, edge, vector
 * 0x31, programmed before the boot-timer write, so a snapshot at `ready` holds it) instead of
 * polling; a lost interrupt leaves the guest halted (the test's --timeout ends it), and the
 * last line says how many arrived. */
#include "apic_guest.h"
#include "virtio_guest.h"

#define IRQ_VEC 0x31

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_WRITE_ZEROES 13
#define F_WRITE_ZEROES (1u << 14)

static struct vq q __attribute__((aligned(4096)));
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} hdr;
static uint8_t data[512] __attribute__((aligned(512)));
static uint8_t status;
static char id[21];
static uint8_t wz_seg[16]; /* {sector, num_sectors, flags} */
static uint64_t dev_base;
static bool use_irq;
static volatile unsigned irqs;

struct frame;
__attribute__((interrupt)) static void on_irq(struct frame *f)
{
	(void)f;
	mmio_wr(dev_base, 0x064,
	        mmio_rd(dev_base, 0x060)); /* InterruptACK what InterruptStatus says */
	irqs = irqs + 1;
	apic_w(LAPIC_BASE + LAPIC_EOI, 0);
}

/* The IRQ of the n-th "virtio_mmio.device=<size>@0x<addr>:<irq>" (0: none). */
static unsigned cmdline_virtio_irq(const char *cmdline, unsigned n)
{
	static const char key[] = "virtio_mmio.device=";
	for (const char *p = cmdline; p && *p; p++) {
		unsigned i = 0;
		while (key[i] && p[i] == key[i])
			i++;
		if (key[i] || n--)
			continue;
		for (p += i; *p && *p != ' ' && *p != ':'; p++)
			;
		unsigned v = 0;
		if (*p == ':')
			for (p++; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (unsigned)(*p - '0');
		return v;
	}
	return 0;
}

/* Post head and wait for the used ring to move: by polling, or halted until the device's
 * interrupt (sti; hlt: an interrupt between the check and the halt still wakes it). */
static long submit(uint64_t base, struct vq *vq, uint16_t head)
{
	if (!use_irq)
		return vq_submit_wait(base, vq, 0, head);
	vq->avail.ring[vq->avail.idx % VQ_SIZE] = head;
	barrier();
	vq->avail.idx++;
	barrier();
	__asm__ volatile("cli");
	mmio_wr(base, 0x050, 0);
	while (*(volatile uint16_t *)&vq->used.idx == vq->last_used) {
		if (mmio_rd(base, 0x070) & 64)
			return -1;
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
	__asm__ volatile("sti");
	barrier();
	long len = vq->used.ring[vq->last_used % VQ_SIZE].len;
	vq->last_used++;
	return len;
}

static void desc(unsigned i, void *p, uint32_t len, uint16_t flags, uint16_t next)
{
	q.desc[i] = (struct vq_desc){(uint64_t)(uintptr_t)p, len, flags, next};
}

static int request(uint64_t base, uint32_t type, uint64_t sector, bool split)
{
	hdr.type = type;
	hdr.sector = sector;
	status = 0xff;
	uint16_t wflag = type == T_IN || type == T_GET_ID ? 2 : 0;
	desc(0, &hdr, sizeof(hdr), 1, 1);
	if (type == T_FLUSH) {
		desc(1, &status, 1, 2, 0);
	} else if (type == T_WRITE_ZEROES) {
		*(uint64_t *)wz_seg = sector;
		*(uint32_t *)(wz_seg + 8) = 1;
		*(uint32_t *)(wz_seg + 12) = 0;
		hdr.sector = 0;
		desc(1, wz_seg, 16, 1, 2);
		desc(2, &status, 1, 2, 0);
	} else if (type == T_GET_ID) {
		desc(1, id, 20, 1 | 2, 2);
		desc(2, &status, 1, 2, 0);
	} else if (split) {
		desc(1, data, 256, 1 | wflag, 2);
		desc(2, data + 256, 256, 1 | wflag, 3);
		desc(3, &status, 1, 2, 0);
	} else {
		desc(1, data, 512, 1 | wflag, 2);
		desc(2, &status, 1, 2, 0);
	}
	if (submit(base, &q, 0) < 0) {
		print("blk_rw: device needs reset\n");
		guest_exit(1);
	}
	return status;
}

static uint8_t pattern(unsigned i, unsigned sector)
{
	static const char tag[] = "FASTVMM-BLK-PATTERN";
	return i < sizeof(tag) - 1 ? (uint8_t)tag[i] : (uint8_t)(i * 7 + sector);
}

void guest_main(const char *cmdline)
{
	unsigned sector = cmdline_uint(cmdline, "sector", 8);
	uint64_t base = cmdline_virtio_base(cmdline, 0);
	if (!base) {
		print("blk_rw: no virtio_mmio.device= on the command line\n");
		guest_exit(1);
	}
	mmio_wr(base, 0x014, 0);
	uint32_t offered = mmio_rd(base, 0x010);
	/* loose=1: negotiate like OSv/Unikraft do (see virtio_negotiate_loose()) */
	unsigned loose = cmdline_uint(cmdline, "loose", 0);
	int r = loose ? virtio_negotiate_loose(base, 2, offered & F_WRITE_ZEROES)
	              : virtio_negotiate(base, 2, offered & F_WRITE_ZEROES);
	if (loose)
		print("blk_rw: loose negotiation (unoffered bits acked, VERSION_1 not acked, "
		      "FEATURES_OK not read back)\n");
	if (!r)
		r = virtio_queue(base, &q, 0, VQ_SIZE);
	if (!r)
		mmio_wr(base, 0x070, 15);
	if (r) {
		print("blk_rw: virtio init failed, step ");
		print_uint((unsigned)r);
		print("\n");
		guest_exit(1);
	}
	uint32_t cap_lo = mmio_rd(base, 0x100);
	/* wz=0: no WRITE_ZEROES (an image on tmpfs, which has no FALLOC_FL_ZERO_RANGE) */
	unsigned wz = cmdline_uint(cmdline, "wz", 1);
	dev_base = base;
	if (cmdline_uint(cmdline, "irq", 0)) {
		unsigned pin = cmdline_virtio_irq(cmdline, 0);
		if (!pin || pin > 23) {
			print("blk_rw: irq=1 needs the device's IRQ on the command line\n");
			guest_exit(1);
		}
		apic_setup(IRQ_VEC, on_irq);
		apic_rte(pin, IRQ_VEC); /* edge, active high, fixed, physical, APIC 0 */
		use_irq = true;
	}
	ready();
	for (unsigned i = 0; i < 512; i++)
		data[i] = pattern(i, sector);
	int st = request(base, T_OUT, sector, true);
	if (st) {
		print("blk_rw: write status ");
		print_uint((unsigned)st);
		print("\n");
		guest_exit(st == 1 ? 3 : 1);
	}
	st = request(base, T_FLUSH, 0, false);
	if (st) {
		print("blk_rw: flush failed\n");
		guest_exit(1);
	}
	for (unsigned i = 0; i < 512; i++)
		data[i] = 0;
	st = request(base, T_IN, sector, false);
	for (unsigned i = 0; i < 512; i++)
		if (st || data[i] != pattern(i, sector)) {
			print("blk_rw: read-back mismatch\n");
			guest_exit(1);
		}
	request(base, T_GET_ID, 0, false);
	if ((offered & F_WRITE_ZEROES) && wz) {
		st = request(base, T_WRITE_ZEROES, sector + 1, false);
		for (unsigned i = 0; i < 512; i++)
			data[i] = 0xee;
		int st2 = request(base, T_IN, sector + 1, false);
		for (unsigned i = 0; i < 512; i++)
			if (st || st2 || data[i]) {
				print("blk_rw: write-zeroes failed\n");
				guest_exit(1);
			}
		print("blk_rw: write-zeroes verified on sector ");
		print_uint(sector + 1);
		print("\n");
	}
	/* A read past the end must fail cleanly. */
	st = request(base, T_IN, cap_lo, false);
	print("blk_rw: capacity ");
	print_uint(cap_lo);
	print(" sectors, id ");
	print(id);
	print(", past-end read status ");
	print_uint((unsigned)st);
	print("\nblk_rw: wrote, flushed and verified sector ");
	print_uint(sector);
	print("\n");
	if (use_irq) {
		print("blk_rw: completions by interrupt: ");
		print_uint(irqs);
		print("\n");
	}
	guest_exit(0);
}

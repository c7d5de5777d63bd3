/* Unit tests: virtio-blk requests end to end through the transport, virtqueue and io_uring,
 * with a fake guest RAM and real files: data over odd descriptor splits, cow reads mixing the
 * overlay and the base, ro, range checks, host short reads as IOERR, write-zeroes, flush,
 * get-ID, a reset with requests in flight, and write-zeroes on file systems without
 * fallocate(ZERO_RANGE) (tmpfs) or without fallocate at all (ramfs). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc.h"
#include "fdpass.h"
#include "virtio.h"
#include "vmm.h"

#define RAM    (4 << 20)
#define QSIZE  16
#define DESC   0x1000
#define AVAIL  0x2000
#define USED   0x3000
#define HDR    0x4000
#define STATUS 0x4100
#define DATA   0x10000
#define SECTS  64
#include "virtio_harness.h"

static struct virtio_blk *blk;
static char path[64];
static uint16_t used_seen;

static void driver_init(void)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, 3);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, rd(VIRTIO_MMIO_DEVICE_FEATURES));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, 11);
	assert_true(rd(VIRTIO_MMIO_STATUS) & 8);
	memset(ram + DESC, 0, 0x3000);
	used_seen = 0;
	setup_queue(0, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_STATUS, 15);
}

/* A base image whose sector s is filled with byte s. */
static void make_image(void)
{
	snprintf(path, sizeof(path), "/tmp/fastvmm-test-blk.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (unsigned s = 0; s < SECTS; s++) {
		uint8_t b[512];
		memset(b, (int)s, sizeof(b));
		assert_int_equal(write(fd, b, sizeof(b)), 512);
	}
	close(fd);
}

static void open_disk(bool ro, bool cow)
{
	struct disk_cfg c = {.ro = ro, .cow = cow};
	snprintf(c.path, sizeof(c.path), "%s", path);
	char why[256];
	assert_int_equal(virtio_blk_create(&blk, &c, 0, &gm, 0, why, sizeof(why)), 0);
	d = virtio_blk_mmio(blk);
	d->raise_irq = on_irq;
	assert_int_equal(iothread_init(&io), 0);
	assert_int_equal(virtio_blk_start(blk, &io), 0);
	assert_int_equal(iothread_start(&io), 0);
	driver_init();
}

static int setup(void **state)
{
	(void)state;
	harness_init(RAM);
	make_image();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (blk) { /* NULL: the test was skipped before open_disk() */
		iothread_stop(&io);
		virtio_blk_destroy(blk);
		blk = NULL;
	}
	close(irq_fd);
	unlink(path);
	free(ram);
	return 0;
}

/* Wait for the next used element; returns its length, or -1 after 5 s. */
static long wait_used(void)
{
	for (int i = 0; i < 500; i++) {
		if (used_idx(USED) != used_seen) {
			long len = le32(ram + USED + 4 + 8 * (used_seen % QSIZE) + 4);
			used_seen++;
			return len;
		}
		struct pollfd p = {.fd = irq_fd, .events = POLLIN};
		poll(&p, 1, 10);
		uint64_t n;
		(void)!read(irq_fd, &n, sizeof(n));
	}
	return -1;
}

/* A request: header at HDR, data as `nseg` descriptors of the given sizes from DATA, status
 * at STATUS. Returns the status byte. */
static int request(uint32_t type, uint64_t sector, const uint32_t *seg, unsigned nseg,
                   long *used_len)
{
	put_le32(ram + HDR, type);
	put_le32(ram + HDR + 4, 0);
	put_le64(ram + HDR + 8, sector);
	ram[STATUS] = 0xff;
	uint16_t wflag = type == 0 || type == 8 ? VIRTQ_DESC_F_WRITE : 0;
	set_desc(DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	uint64_t at = DATA;
	for (unsigned i = 0; i < nseg; i++) {
		set_desc(DESC, 1 + i, at, seg[i], VIRTQ_DESC_F_NEXT | wflag, (uint16_t)(2 + i));
		at += seg[i];
	}
	set_desc(DESC, 1 + nseg, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(AVAIL, 0, 0);
	long len = wait_used();
	if (used_len)
		*used_len = len;
	return ram[STATUS];
}

static void rw_split_descriptors(void **state)
{
	(void)state;
	open_disk(false, false);
	/* 4 sectors over descriptors of 1000, 1000 and 48 bytes: odd splits. */
	static const uint32_t seg[] = {1000, 1000, 48};
	long len;
	assert_int_equal(request(0, 10, seg, 3, &len), 0);
	assert_int_equal(len, 2048 + 1);
	for (unsigned i = 0; i < 2048; i++)
		assert_int_equal(ram[DATA + i], 10 + i / 512);
	/* Write 4 sectors of 0x77 at sector 20, read back through the file. */
	memset(ram + DATA, 0x77, 2048);
	assert_int_equal(request(1, 20, seg, 3, &len), 0);
	assert_int_equal(len, 1);
	static const uint32_t flush_seg[1];
	assert_int_equal(request(4, 0, flush_seg, 0, NULL), 0); /* FLUSH, no data descriptor */
	int fd = open(path, O_RDONLY);
	uint8_t b[2048];
	assert_int_equal(pread(fd, b, sizeof(b), 20 * 512), 2048);
	close(fd);
	for (unsigned i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0x77);
	/* Ranges: past the end, straddling the end, not a multiple of 512. */
	static const uint32_t one[] = {512}, odd[] = {100};
	assert_int_equal(request(0, SECTS, one, 1, NULL), 1);
	assert_int_equal(request(0, UINT64_MAX, one, 1, NULL), 1);
	static const uint32_t two[] = {1024};
	assert_int_equal(request(1, SECTS - 1, two, 1, NULL), 1);
	assert_int_equal(request(0, 0, odd, 1, NULL), 1);
	/* Unknown type, get-ID. */
	assert_int_equal(request(99, 0, one, 1, NULL), 2);
	static const uint32_t id[] = {20};
	assert_int_equal(request(8, 0, id, 1, &len), 0);
	assert_int_equal(len, 21);
	assert_memory_equal(ram + DATA, "fastvmm-vd0", 12);
	/* Write-zeroes of sectors 30-31: one {sector, num, flags} segment. */
	put_le64(ram + DATA, 30);
	put_le32(ram + DATA + 8, 2);
	put_le32(ram + DATA + 12, 0);
	static const uint32_t wz[] = {16};
	assert_int_equal(request(13, 0, wz, 1, NULL), 0);
	assert_int_equal(request(0, 30, two, 1, NULL), 0);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(ram[DATA + i], 0);
	/* A short read from the host (the file shrank under us) is IOERR, not a crash. */
	assert_int_equal(truncate(path, 40 * 512), 0);
	assert_int_equal(request(0, 50, one, 1, NULL), 1);
	assert_int_equal(request(0, 39, one, 1, NULL), 0);
}

static void cow_mixes_overlay_and_base(void **state)
{
	(void)state;
	open_disk(false, true);
	/* Overwrite sectors 3 and 5 and 6. */
	static const uint32_t one[] = {512}, two[] = {1024};
	memset(ram + DATA, 0xaa, 1024);
	assert_int_equal(request(1, 3, one, 1, NULL), 0);
	assert_int_equal(request(1, 5, two, 1, NULL), 0);
	/* Read 0-7 in one request over odd descriptors: runs base/ovl/base/ovl(2)/base. */
	static const uint32_t seg[] = {700, 2000, 1396};
	memset(ram + DATA, 0x11, 4096);
	assert_int_equal(request(0, 0, seg, 3, NULL), 0);
	for (unsigned i = 0; i < 4096; i++) {
		unsigned s = i / 512;
		uint8_t want = s == 3 || s == 5 || s == 6 ? 0xaa : (uint8_t)s;
		if (ram[DATA + i] != want)
			fail_msg("byte %u (sector %u) is 0x%x, want 0x%x", i, s, ram[DATA + i],
			         want);
	}
	/* The base file is untouched. */
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	assert_int_equal(pread(fd, b, 512, 3 * 512), 512);
	close(fd);
	assert_int_equal(b[0], 3);
	/* Discard reads back as zeros from the overlay. */
	put_le64(ram + DATA, 0);
	put_le32(ram + DATA + 8, 1);
	put_le32(ram + DATA + 12, 0);
	static const uint32_t wz[] = {16};
	assert_int_equal(request(11, 0, wz, 1, NULL), 0);
	assert_int_equal(request(0, 0, one, 1, NULL), 0);
	assert_int_equal(ram[DATA], 0);
	assert_int_equal(ram[DATA + 511], 0);
}

static void ro_refuses_writes(void **state)
{
	(void)state;
	open_disk(true, false);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_true(rd(VIRTIO_MMIO_DEVICE_FEATURES) & (1u << 5)); /* VIRTIO_BLK_F_RO */
	static const uint32_t one[] = {512};
	memset(ram + DATA, 0x55, 512);
	assert_int_equal(request(1, 0, one, 1, NULL), 1);
	put_le64(ram + DATA, 0);
	put_le32(ram + DATA + 8, 1);
	static const uint32_t wz[] = {16};
	assert_int_equal(request(13, 0, wz, 1, NULL), 1);
	assert_int_equal(request(0, 0, one, 1, NULL), 0);
	assert_int_equal(ram[DATA], 0);
}

static void reset_drops_completions(void **state)
{
	(void)state;
	open_disk(false, false);
	/* Offer a read and reset at once: whatever completes later must not touch the new
	 * ring (used idx stays 0 after re-initialisation). */
	static const uint32_t big[] = {16384};
	put_le32(ram + HDR, 0);
	put_le64(ram + HDR + 8, 0);
	set_desc(DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, big[0], VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(DESC, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(AVAIL, 0, 0);
	driver_init(); /* reset + fresh rings */
	usleep(100000);
	assert_int_equal(le16(ram + USED + 2), 0);
	/* And the device works after it. */
	static const uint32_t one[] = {512};
	assert_int_equal(request(0, 2, one, 1, NULL), 0);
	assert_int_equal(ram[DATA], 2);
}

/* A driver re-offering one chain beyond the queue size: at most `num` requests in flight,
 * every offer still completes. */
static void reoffered_chain_is_bounded(void **state)
{
	(void)state;
	open_disk(false, false);
	put_le32(ram + HDR, 0);
	put_le64(ram + HDR + 8, 0);
	set_desc(DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, 16384, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(DESC, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < QSIZE; i++)
			offer(AVAIL, 0, 0);
		/* Wait until the device has taken them before offering more (the ring allows
		 * at most QSIZE outstanding entries). */
		for (int t = 0; t < 500; t++) {
			pthread_mutex_lock(&d->lock);
			uint16_t taken = d->vq[0].last_avail;
			pthread_mutex_unlock(&d->lock);
			if (taken == (round + 1) * QSIZE)
				break;
			usleep(1000);
		}
	}
	for (int i = 0; i < 4 * QSIZE; i++)
		assert_true(wait_used() >= 0);
	assert_false(d->faulted);
}

/* The fan-out of a cow read (issue 12 item 2): with every other sector in the overlay, a
 * read of the whole disk is 64 runs. It must cost a bounded number of host operations
 * (COW_MAX_RUNS = 16 in devices/virtio_blk.c) and still return every byte right. */
static void fragmented_cow_read_is_bounded(void **state)
{
	(void)state;
	open_disk(false, true);
	static const uint32_t one[] = {512};
	for (unsigned s = 1; s < SECTS; s += 2) {
		memset(ram + DATA, 0xc0 ^ (int)s, 512);
		assert_int_equal(request(1, s, one, 1, NULL), 0);
	}
	/* Odd descriptor sizes, so sectors straddle segments in the merge. */
	static const uint32_t seg[] = {1000, 7000, 300, 4096 * 6 - 8300 + 8192};
	uint32_t total = 0;
	for (unsigned i = 0; i < 4; i++)
		total += seg[i];
	assert_int_equal(total, SECTS * 512);
	memset(ram + DATA, 0x11, SECTS * 512);
	uint64_t ops = virtio_blk_ops(blk);
	long used = 0;
	assert_int_equal(request(0, 0, seg, 4, &used), 0);
	assert_int_equal(used, SECTS * 512 + 1);
	uint64_t cost = virtio_blk_ops(blk) - ops;
	if (cost > 16)
		fail_msg("one read of %u runs cost %llu host operations", SECTS,
		         (unsigned long long)cost);
	for (unsigned i = 0; i < SECTS * 512; i++) {
		unsigned s = i / 512;
		uint8_t want = s & 1 ? (uint8_t)(0xc0 ^ s) : (uint8_t)s;
		if (ram[DATA + i] != want)
			fail_msg("byte %u (sector %u) is 0x%x, want 0x%x", i, s, ram[DATA + i],
			         want);
	}
	/* A few runs still go the direct way, and are right. */
	memset(ram + DATA, 0x11, 2048);
	static const uint32_t four[] = {2048};
	assert_int_equal(request(0, 2, four, 1, NULL), 0);
	assert_int_equal(ram[DATA], 2);
	assert_int_equal(ram[DATA + 512], 0xc0 ^ 3);
}

/* Requests that complete at once (GET_ID here) count against the per-notify budget: a
 * driver refilling the ring while the device works (here from inside the device's own
 * interrupt callback, the fastest refiller there can be) cannot keep one notify call going. */
static unsigned refills, completions;
static void refill_on_irq(struct virtio_mmio *dev)
{
	(void)dev;
	completions++;
	if (refills >= 100000)
		return;
	refills++;
	uint16_t idx = le16(ram + AVAIL + 2);
	put_le16(ram + AVAIL + 4 + 2 * (idx % QSIZE), 0);
	__atomic_store_n((uint16_t *)(void *)(ram + AVAIL + 2), (uint16_t)(idx + 1),
	                 __ATOMIC_RELEASE);
}

static void instant_requests_are_budgeted(void **state)
{
	(void)state;
	open_disk(false, false);
	put_le32(ram + HDR, 8); /* GET_ID */
	put_le64(ram + HDR + 8, 0);
	set_desc(DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(DESC, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	refills = completions = 0;
	d->raise_irq = refill_on_irq;
	offer(AVAIL, 0, 0); /* one notify, on this thread */
	unsigned done = completions;
	d->raise_irq = on_irq;
	if (done > QSIZE)
		fail_msg("one notify completed %u requests (queue size %d)", done, QSIZE);
	assert_int_equal(done, QSIZE);
	assert_false(d->faulted);
}

/* fill_image FD: sector s filled with byte s, as make_image(). */
static void fill_image(int fd)
{
	for (unsigned s = 0; s < SECTS; s++) {
		uint8_t b[512];
		memset(b, (int)s, sizeof(b));
		assert_int_equal(pwrite(fd, b, sizeof(b), s * 512), 512);
	}
}

/* Write-zeroes of sectors 30-31 on the disk at `path` (an image made by fill_image()), seen
 * by the guest and in the file through fd. */
static void write_zeroes_on(int fd)
{
	open_disk(false, false);
	put_le64(ram + DATA, 30);
	put_le32(ram + DATA + 8, 2);
	put_le32(ram + DATA + 12, 0);
	static const uint32_t wz[] = {16}, four[] = {2048};
	assert_int_equal(request(13, 0, wz, 1, NULL), 0); /* VIRTIO_BLK_S_OK, not UNSUPP */
	memset(ram + DATA, 0x11, 2048);
	assert_int_equal(request(0, 29, four, 1, NULL), 0);
	uint8_t b[2048];
	assert_int_equal(pread(fd, b, sizeof(b), 29 * 512), 2048);
	for (unsigned i = 0; i < 2048; i++) {
		uint8_t want = i < 512 ? 29 : i < 1536 ? 0 : 32;
		if (ram[DATA + i] != want || b[i] != want)
			fail_msg("byte %u: guest 0x%x, file 0x%x, want 0x%x", i, ram[DATA + i],
			         b[i], want);
	}
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, SECTS * 512); /* never grown or cut */
	/* And again, now that the device knows which method works. */
	put_le64(ram + DATA, 40);
	put_le32(ram + DATA + 8, 1);
	put_le32(ram + DATA + 12, 0);
	assert_int_equal(request(13, 0, wz, 1, NULL), 0);
	assert_int_equal(pread(fd, b, 512, 40 * 512), 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(b[i], 0);
}

/* tmpfs (a memfd is one) has fallocate(PUNCH_HOLE) but not ZERO_RANGE: write-zeroes must
 * still zero the sectors, not answer UNSUPP (found in the nested harness, whose /tmp is a
 * tmpfs: blk_rw's write-zeroes failed there). */
static void write_zeroes_on_tmpfs(void **state)
{
	(void)state;
	unlink(path);
	int fd = memfd_create("fastvmm-test-blk", 0);
	assert_true(fd >= 0);
	fill_image(fd);
	assert_int_equal(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 512), -1);
	assert_int_equal(errno, EOPNOTSUPP); /* else this test proves nothing */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	write_zeroes_on(fd);
	close(fd);
}

static bool put_file(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ramfs has no fallocate at all: write-zeroes writes the zeros. The ramfs is mounted by a
 * child in mount (and, unprivileged, user) namespaces of its own, which hands back an open
 * file on it; skipped where neither namespace can be had. */
static void write_zeroes_on_ramfs(void **state)
{
	(void)state;
	unlink(path);
	char dir[] = "/tmp/fastvmm-test-ramfs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		uid_t uid = getuid();
		gid_t gid = getgid();
		if (unshare(CLONE_NEWNS) < 0) {
			if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
				_exit(3);
			/* map ourselves, or files cannot be created (EOVERFLOW) */
			char m[64];
			snprintf(m, sizeof(m), "0 %u 1", (unsigned)uid);
			if (!put_file("/proc/self/uid_map", m) ||
			    !put_file("/proc/self/setgroups", "deny"))
				_exit(3);
			snprintf(m, sizeof(m), "0 %u 1", (unsigned)gid);
			if (!put_file("/proc/self/gid_map", m))
				_exit(3);
		}
		char file[64];
		snprintf(file, sizeof(file), "%s/img", dir);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("ramfs", dir, "ramfs", 0, NULL) < 0)
			_exit(3);
		int fd = open(file, O_RDWR | O_CREAT, 0600);
		char ok = 1;
		_exit(fd >= 0 && fd_send(sv[1], &ok, 1, &fd, 1, 0) == 1 ? 0 : 4);
	}
	close(sv[1]);
	int st = 0, fd = -1, truncated = 0;
	unsigned nfds = 0;
	char ok = 0;
	ssize_t n = fd_recv(sv[0], &ok, 1, &fd, 1, &nfds, &truncated, 0);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	rmdir(dir);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		snprintf(path, sizeof(path), "/nonexistent");
		skip(); /* no namespaces for a ramfs mount here */
	}
	assert_int_equal(n, 1);
	assert_int_equal(nfds, 1);
	fill_image(fd);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512), -1);
	assert_int_equal(errno, EOPNOTSUPP); /* else this test proves nothing */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	write_zeroes_on(fd);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(rw_split_descriptors, setup, teardown),
	        cmocka_unit_test_setup_teardown(cow_mixes_overlay_and_base, setup, teardown),
	        cmocka_unit_test_setup_teardown(ro_refuses_writes, setup, teardown),
	        cmocka_unit_test_setup_teardown(reset_drops_completions, setup, teardown),
	        cmocka_unit_test_setup_teardown(reoffered_chain_is_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(fragmented_cow_read_is_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(instant_requests_are_budgeted, setup, teardown),
	        cmocka_unit_test_setup_teardown(write_zeroes_on_tmpfs, setup, teardown),
	        cmocka_unit_test_setup_teardown(write_zeroes_on_ramfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

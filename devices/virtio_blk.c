/* devices/virtio_blk.c — virtio-blk (virtio 1.x §5.2) on io_uring.
 *
 * A request is parsed from a validated chain (header in the readable part, status byte = last
 * byte of the writable part; data may be split over any number of descriptors), turned into
 * one or more io_uring operations on the image, and completed to the guest from the I/O
 * thread when all of them are done. We offer VIRTIO_BLK_F_FLUSH: the guest then knows it has a
 * volatile write cache, and a FLUSH completes only after fdatasync() — that is the durability
 * it asked for. Host errors become VIRTIO_BLK_S_IOERR for that request only.
 *
 * cow: the base image is opened read-only and never written. Writes go to an unnamed sparse
 * overlay file (O_TMPFILE) of the same size at the same offsets; a bitmap with one bit per
 * 512-byte sector says which sectors live in the overlay. Requests are sector-granular, so
 * there is never a read-modify-write, and set-up costs the same for any image size (the bitmap
 * is calloc'ed: untouched pages are never faulted in). Bits are set when a write completes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "virtio.h"
#include "snapshot.h"
#include "vmm.h"

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR        512ULL
#define ID_BYTES      20
#define RING_ENTRIES  128          /* a fuller batch is submitted in parts (get_sqe) */
#define MAX_SEG_BYTES (1ULL << 30) /* one discard/write-zeroes range */
/* Bounds on what one guest request may cost (docs/security.md "Bounds"). A cow read whose
 * range alternates between overlay and base more than COW_MAX_RUNS times is served by two
 * operations (the whole range from the base into guest RAM, from the overlay into a bounce
 * buffer) and a merge by the bitmap at completion, instead of one operation per run: a
 * hostile guest could otherwise make one request cost a million operations. Bounce buffers
 * of all requests in flight together stay under COW_BOUNCE_BUDGET; a request that would pass
 * it waits in the ring until others complete, and one larger than the budget gets IOERR. */
#define COW_MAX_RUNS      16
#define COW_BOUNCE_BUDGET (64ULL << 20)
/* Write-zeroes, by the first method the image's filesystem supports (docs/virtio.md):
 * fallocate(ZERO_RANGE) (plain disks only: it keeps the blocks allocated), else
 * fallocate(PUNCH_HOLE) (tmpfs has no ZERO_RANGE), else one writev of the range from a
 * buffer of zeros (ramfs has no fallocate at all): at most MAX_SEG_BYTES / ZERO_BUF iovecs
 * (1024 = IOV_MAX), all pointing at ZERO_BUF bytes of never-written .bss. */
enum wz_method { WZ_ZERO_RANGE, WZ_PUNCH, WZ_WRITE };
#define ZERO_BUF (1ULL << 20)
static uint8_t zeros[ZERO_BUF];

struct virtio_blk {
	struct virtio_mmio mmio;
	int fd;     /* the image (the base, read-only, for cow) */
	int ovl_fd; /* cow overlay, else -1 */
	uint64_t sectors;
	bool ro, cow;
	uint8_t *cow_map; /* 1 bit per sector: in the overlay */
	struct io_uring ring;
	bool ring_ok;
	unsigned inflight;
	bool throttled;    /* stopped popping: `num` in flight, the pop budget, or bounce memory */
	enum wz_method wz; /* the first write-zeroes method not refused with EOPNOTSUPP */
	uint64_t bounce_bytes; /* cow bounce buffers of the requests in flight */
	uint64_t ops;          /* io_uring operations prepared */
	char id[ID_BYTES];
	struct virtq_chain chain; /* scratch for virtq_pop(), under mmio.lock */
};

struct blk_req {
	struct virtio_blk *b;
	uint32_t gen;
	uint16_t head;
	uint32_t type;
	uint8_t *status;
	uint32_t used_len;
	unsigned pending;
	uint8_t result;
	uint64_t sector, nsect;    /* cow: the range to mark on success */
	uint64_t nsect_done_bytes; /* bytes moved by completed readv/writev */
	uint8_t *bounce;           /* fragmented cow read: the overlay's copy of the range */
	uint64_t bounce_len;
	enum wz_method wz;   /* write-zeroes: the method in flight */
	struct iovec *zeros; /* write-zeroes by WZ_WRITE: the iovecs over zeros[] */
	unsigned niov;
	struct iovec iov[]; /* the data, then per-operation slices */
};

struct virtio_mmio *virtio_blk_mmio(struct virtio_blk *b)
{
	return &b->mmio;
}

static bool map_test(const struct virtio_blk *b, uint64_t s)
{
	return b->cow_map[s / 8] & (1u << (s % 8));
}

static void map_set(struct virtio_blk *b, uint64_t s, uint64_t n)
{
	for (uint64_t i = s; i < s + n; i++)
		b->cow_map[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* A fragmented cow read completed: the base's bytes are in guest RAM, the overlay's in the
 * bounce buffer; copy the overlay's sectors over, by the bitmap. One pass over the iovecs and
 * the sectors: linear in the request's size. */
static void cow_merge(struct blk_req *r)
{
	const struct virtio_blk *b = r->b;
	unsigned seg = 0;
	size_t seg_off = 0;
	for (uint64_t i = 0; i < r->nsect; i++) {
		bool ovl = map_test(b, r->sector + i);
		size_t left = SECTOR;
		const uint8_t *src = r->bounce + i * SECTOR;
		while (left && seg < r->niov) {
			size_t n = r->iov[seg].iov_len - seg_off;
			if (n > left)
				n = left;
			if (ovl)
				memcpy((uint8_t *)r->iov[seg].iov_base + seg_off, src, n);
			src += n;
			left -= n;
			seg_off += n;
			if (seg_off == r->iov[seg].iov_len) {
				seg++;
				seg_off = 0;
			}
		}
	}
}

static void req_finish(struct blk_req *r)
{
	struct virtio_blk *b = r->b;
	b->inflight--;
	if (r->bounce) {
		if (r->result == VIRTIO_BLK_S_OK && r->gen == b->mmio.generation)
			cow_merge(r);
		free(r->bounce);
		b->bounce_bytes -= r->bounce_len;
	}
	free(r->zeros);
	/* A reset since submission: the ring is not ours to write any more. */
	if (r->gen == b->mmio.generation) {
		if (r->result == VIRTIO_BLK_S_OK && b->cow &&
		    (r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_WRITE_ZEROES ||
		     r->type == VIRTIO_BLK_T_DISCARD))
			map_set(b, r->sector, r->nsect);
		*r->status = r->result;
		virtio_mmio_complete(&b->mmio, 0, r->head, r->used_len);
	} else if (r->result == VIRTIO_BLK_S_OK && b->cow && r->type == VIRTIO_BLK_T_OUT) {
		map_set(b, r->sector, r->nsect); /* the overlay holds the data either way */
	}
	free(r);
}

static struct io_uring_sqe *get_sqe(struct virtio_blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		io_uring_submit(&b->ring);
		sqe = io_uring_get_sqe(&b->ring);
	}
	if (sqe)
		b->ops++;
	return sqe;
}

uint64_t virtio_blk_ops(const struct virtio_blk *b)
{
	return b->ops;
}

/* Queue one readv/writev of iov[first..first+n) at byte offset off. */
static int submit_rw(struct blk_req *r, int fd, bool write, unsigned first, unsigned n,
                     uint64_t off)
{
	struct io_uring_sqe *sqe = get_sqe(r->b);
	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_writev(sqe, fd, &r->iov[first], n, off);
	else
		io_uring_prep_readv(sqe, fd, &r->iov[first], n, off);
	io_uring_sqe_set_data(sqe, r);
	r->pending++;
	return 0;
}

/* A read from a cow disk: each run of sectors reads from the overlay or the base. */
static int submit_cow_read(struct blk_req *r, unsigned cap)
{
	struct virtio_blk *b = r->b;
	unsigned used = r->niov;
	uint64_t s = r->sector, end = r->sector + r->nsect;
	while (s < end) {
		bool ovl = map_test(b, s);
		uint64_t e = s + 1;
		while (e < end && map_test(b, e) == ovl)
			e++;
		int n = iov_slice(r->iov, r->niov, (s - r->sector) * SECTOR, (e - s) * SECTOR,
		                  &r->iov[used], cap - used);
		if (n <= 0)
			return -E2BIG;
		int rc =
		        submit_rw(r, ovl ? b->ovl_fd : b->fd, false, used, (unsigned)n, s * SECTOR);
		if (rc < 0)
			return rc;
		used += (unsigned)n;
		s = e;
	}
	return 0;
}

/* Runs of overlay/base sectors in [s, s+n), counted up to limit + 1 (the walk stops there:
 * its cost is bounded too). */
static unsigned count_runs(const struct virtio_blk *b, uint64_t s, uint64_t n, unsigned limit)
{
	unsigned runs = 1;
	for (uint64_t i = s + 1; i < s + n && runs <= limit; i++)
		runs += map_test(b, i) != map_test(b, i - 1);
	return runs;
}

/* A fragmented cow read: two operations, merged at completion (cow_merge()). */
static int submit_cow_bounce(struct blk_req *r)
{
	struct virtio_blk *b = r->b;
	uint64_t len = r->nsect * SECTOR;
	r->bounce = malloc(len);
	if (!r->bounce)
		return -ENOMEM;
	r->bounce_len = len;
	b->bounce_bytes += len;
	r->iov[r->niov] = (struct iovec){.iov_base = r->bounce, .iov_len = len};
	int rc = submit_rw(r, b->fd, false, 0, r->niov, r->sector * SECTOR);
	if (!rc)
		rc = submit_rw(r, b->ovl_fd, false, r->niov, 1, r->sector * SECTOR);
	/* Both transfers count towards nsect_done_bytes; expect twice the range. */
	if (!rc)
		r->nsect_done_bytes = 0 - len;
	return rc;
}

/* Queue a discard, or a write-zeroes by method r->wz, of [r->sector, r->sector + r->nsect). */
static int submit_zeroes(struct blk_req *r)
{
	struct virtio_blk *b = r->b;
	int fd = b->cow ? b->ovl_fd : b->fd;
	uint64_t off = r->sector * SECTOR, len = r->nsect * SECTOR;
	bool write = r->type == VIRTIO_BLK_T_WRITE_ZEROES && r->wz == WZ_WRITE;
	unsigned n = (unsigned)((len + ZERO_BUF - 1) / ZERO_BUF);
	if (write) {
		free(r->zeros);
		r->zeros = calloc(n, sizeof(*r->zeros));
		if (!r->zeros)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++)
			r->zeros[i] = (struct iovec){
			        .iov_base = zeros,
			        .iov_len = i + 1 < n ? ZERO_BUF : len - (uint64_t)i * ZERO_BUF};
	}
	struct io_uring_sqe *sqe = get_sqe(b);
	if (!sqe)
		return -EBUSY;
	if (write) {
		io_uring_prep_writev(sqe, fd, r->zeros, n, off);
	} else {
		/* Discard punches a hole (reads back zeros, as write-zeroes needs too). */
		int mode =
		        FALLOC_FL_KEEP_SIZE | (r->type == VIRTIO_BLK_T_DISCARD || r->wz == WZ_PUNCH
		                                       ? FALLOC_FL_PUNCH_HOLE
		                                       : FALLOC_FL_ZERO_RANGE);
		io_uring_prep_fallocate(sqe, fd, mode, off, len);
	}
	io_uring_sqe_set_data(sqe, r);
	r->pending++;
	return 0;
}

/* Parse and start one request. Returns -EINVAL for a chain that cannot be a request at all
 * (the device then needs a reset), -EAGAIN when it must wait in the ring (bounce budget; the
 * caller gives the chain back); everything else completes with a status. */
static int blk_request(struct virtio_blk *b, const struct virtq_chain *c, char *why, size_t whylen)
{
	uint8_t hdr[16];
	if (c->out_len < sizeof(hdr) || c->in_len < 1) {
		snprintf(why, whylen,
		         "request at descriptor %u has no header or no status byte "
		         "(%" PRIu64 " readable, %" PRIu64 " writable bytes)",
		         c->head, c->out_len, c->in_len);
		return -EINVAL;
	}
	iov_to_buf(c->iov, c->nout, 0, hdr, sizeof(hdr));
	uint32_t type = le32(hdr);
	uint64_t sector = le64(hdr + 8);
	const struct iovec *in = c->iov + c->nout;
	struct iovec st;
	if (iov_slice(in, c->nin, c->in_len - 1, 1, &st, 1) != 1)
		return -EINVAL; /* cannot happen: in_len >= 1 */
	uint64_t data_len = type == VIRTIO_BLK_T_IN ? c->in_len - 1 : c->out_len - sizeof(hdr);

	/* Data iovecs, plus room for per-run slices of a cow read. */
	unsigned nseg = c->nout + c->nin;
	unsigned cap = nseg;
	uint64_t nsect = data_len / SECTOR;
	bool rw = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_OUT;
	/* used_len is 32 bits: larger transfers (never sent by real drivers) are refused. */
	bool range_ok = rw && data_len % SECTOR == 0 && data_len < UINT32_MAX &&
	                sector <= b->sectors && nsect <= b->sectors - sector;
	bool bounce = false;
	if (b->cow && type == VIRTIO_BLK_T_IN && range_ok && nsect) {
		unsigned runs = count_runs(b, sector, nsect, COW_MAX_RUNS);
		if (runs > COW_MAX_RUNS) {
			bounce = true;
			if (data_len > COW_BOUNCE_BUDGET) {
				range_ok = false; /* IOERR: no driver sends this much */
				log_info("%svirtio-blk: fragmented cow read of %" PRIu64
				         " bytes refused (bounce budget %llu)",
				         log_vm(b->mmio.vm_id), data_len, COW_BOUNCE_BUDGET);
			} else if (b->bounce_bytes + data_len > COW_BOUNCE_BUDGET) {
				return -EAGAIN;
			}
			cap += 1;
		} else {
			cap += nseg + runs;
		}
	}
	struct blk_req *r = calloc(1, sizeof(*r) + cap * sizeof(struct iovec));
	if (!r) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	*r = (struct blk_req){.b = b,
	                      .gen = b->mmio.generation,
	                      .head = c->head,
	                      .type = type,
	                      .status = st.iov_base,
	                      .used_len = 1,
	                      .result = VIRTIO_BLK_S_OK,
	                      .sector = sector,
	                      .nsect = nsect};
	b->inflight++;
	int fd_w = b->cow ? b->ovl_fd : b->fd;
	int rc = 0;
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = type == VIRTIO_BLK_T_OUT;
		if (!range_ok || (wr && b->ro)) {
			r->result = VIRTIO_BLK_S_IOERR;
			break;
		}
		int n = wr ? iov_slice(c->iov, c->nout, sizeof(hdr), data_len, r->iov, cap)
		           : iov_slice(in, c->nin, 0, data_len, r->iov, cap);
		if (n < 0) {
			r->result = VIRTIO_BLK_S_IOERR;
			break;
		}
		r->niov = (unsigned)n;
		if (!wr)
			r->used_len = (uint32_t)(data_len + 1);
		if (!data_len)
			break;
		if (bounce && range_ok)
			rc = submit_cow_bounce(r);
		else if (b->cow && !wr)
			rc = submit_cow_read(r, cap);
		else
			rc = submit_rw(r, wr ? fd_w : b->fd, wr, 0, r->niov, sector * SECTOR);
		break;
	}
	case VIRTIO_BLK_T_FLUSH: {
		if (b->ro)
			break; /* nothing of ours is volatile */
		struct io_uring_sqe *sqe = get_sqe(b);
		if (!sqe) {
			rc = -EBUSY;
			break;
		}
		io_uring_prep_fsync(sqe, fd_w, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, r);
		r->pending++;
		break;
	}
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = c->in_len - 1 < ID_BYTES ? c->in_len - 1 : ID_BYTES;
		iov_from_buf(in, c->nin, 0, b->id, n);
		r->used_len = (uint32_t)n + 1;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		/* We offer max_*_seg = 1: exactly one {sector, num_sectors, flags} segment. */
		uint8_t seg[16];
		if (b->ro || data_len != sizeof(seg) ||
		    iov_to_buf(c->iov, c->nout, sizeof(hdr), seg, sizeof(seg)) != sizeof(seg)) {
			r->result = VIRTIO_BLK_S_IOERR;
			break;
		}
		uint64_t s = le64(seg);
		uint32_t n = le32(seg + 8);
		if (s > b->sectors || n > b->sectors - s || (uint64_t)n * SECTOR > MAX_SEG_BYTES) {
			r->result = VIRTIO_BLK_S_IOERR;
			break;
		}
		r->sector = s;
		r->nsect = n;
		if (!n)
			break;
		/* A cow overlay never needs ZERO_RANGE's allocation: its holes read as zeros. */
		r->wz = b->cow && b->wz < WZ_PUNCH ? WZ_PUNCH : b->wz;
		rc = submit_zeroes(r);
		break;
	}
	default:
		r->result = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (rc < 0)
		r->result = VIRTIO_BLK_S_IOERR;
	if (r->pending == 0)
		req_finish(r);
	return 0;
}

static void blk_notify(struct virtio_mmio *d, unsigned q)
{
	struct virtio_blk *b = d->priv;
	bool indirect = d->features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	/* At most a queue's worth of requests per call, counting those that complete at once
	 * (GET_ID, bad type or range, zero length): a driver refilling the ring from another
	 * vCPU must not keep us here, holding the lock that register access needs. */
	unsigned budget = d->vq[q].num;
	for (;;) {
		/* A driver may re-offer descriptors it has not got back yet; at most a queue's
		 * worth of requests is in flight (memory and io_uring stay bounded), the rest
		 * waits in the ring until completions make room. */
		if (b->inflight >= d->vq[q].num) {
			b->throttled = true;
			break;
		}
		if (!budget--) {
			b->throttled = true;        /* a completion resumes, */
			virtio_mmio_renotify(d, q); /* or the I/O thread, after the lock is free */
			break;
		}
		struct virtq_err e;
		int r = virtq_pop(&d->vq[q], d->gm, indirect, &b->chain, &e);
		if (r == 0)
			break;
		if (r < 0) {
			virtio_mmio_fault(d, e.msg);
			break;
		}
		char why[200];
		int rc = blk_request(b, &b->chain, why, sizeof(why));
		if (rc == -EAGAIN) {
			virtq_unpop(&d->vq[q]);
			b->throttled = true; /* the bounce buffers in flight make room */
			break;
		}
		if (rc < 0) {
			virtio_mmio_fault(d, why);
			break;
		}
	}
	io_uring_submit(&b->ring);
}

/* A write-zeroes refused with EOPNOTSUPP by the image's filesystem: queue it again by the
 * next method (the device starts there from now on). False when there is none left, the
 * device was reset since, or it cannot be queued: the request then completes with an error. */
static bool wz_fallback(struct blk_req *r)
{
	struct virtio_blk *b = r->b;
	static const char *const name[] = {"fallocate(ZERO_RANGE)", "fallocate(PUNCH_HOLE)",
	                                   "writing zeros"};
	if (r->type != VIRTIO_BLK_T_WRITE_ZEROES || r->wz == WZ_WRITE ||
	    r->gen != b->mmio.generation)
		return false;
	enum wz_method next = r->wz + 1;
	if (b->wz < next) {
		log_debug("%svirtio-blk: write-zeroes: %s not supported by the image's file "
		          "system, %s instead",
		          log_vm(b->mmio.vm_id), name[r->wz], name[next]);
		b->wz = next;
	}
	r->wz = next;
	r->pending--;
	if (submit_zeroes(r) == 0)
		return true;
	r->pending++; /* completes below, as the error it was */
	return false;
}

static void blk_complete_ready(void *opaque, uint32_t events)
{
	(void)events;
	struct virtio_blk *b = opaque;
	bool resubmitted = false;
	pthread_mutex_lock(&b->mmio.lock);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
		if (!r)
			continue;
		if (res == -EOPNOTSUPP && wz_fallback(r)) {
			resubmitted = true;
			continue;
		}
		if (res >= 0 && r->type == VIRTIO_BLK_T_WRITE_ZEROES && r->wz == WZ_WRITE &&
		    (uint64_t)res != r->nsect * SECTOR)
			r->result = VIRTIO_BLK_S_IOERR; /* a short write of the zeros (ENOSPC) */
		if (res < 0) {
			r->result = res == -EOPNOTSUPP && (r->type == VIRTIO_BLK_T_DISCARD ||
			                                   r->type == VIRTIO_BLK_T_WRITE_ZEROES)
			                    ? VIRTIO_BLK_S_UNSUPP
			                    : VIRTIO_BLK_S_IOERR;
			log_info("%svirtio-blk: request type %u: %s", log_vm(b->mmio.vm_id),
			         r->type, strerror(-res));
		}
		/* Short transfers of a readv/writev (only at EOF or ENOSPC) are errors; their
		 * exact lengths are not tracked per operation, so check the total at the end. */
		if (res >= 0 && (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT))
			r->nsect_done_bytes += (uint64_t)res;
		if (--r->pending == 0) {
			if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) &&
			    r->nsect_done_bytes != r->nsect * SECTOR)
				r->result = VIRTIO_BLK_S_IOERR;
			req_finish(r);
		}
	}
	if (b->throttled && virtio_mmio_queue_live(&b->mmio, 0)) {
		b->throttled = false;
		blk_notify(&b->mmio, 0);
	} else if (resubmitted) {
		io_uring_submit(&b->ring);
	}
	pthread_mutex_unlock(&b->mmio.lock);
}

void virtio_blk_poll(struct virtio_blk *b)
{
	blk_complete_ready(b, 0);
}

static void blk_reset(struct virtio_mmio *d)
{
	/* In-flight requests see the new generation and are dropped at completion. */
	struct virtio_blk *b = d->priv;
	b->throttled = false;
}

static const struct virtio_dev_ops blk_ops = {
        .name = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .nqueues = 1,
        .notify = blk_notify,
        .reset = blk_reset,
};

static int fail(char *why, size_t whylen, int code, const char *fmt, ...) PRINTF(4, 5);
static int fail(char *why, size_t whylen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return code;
}

/* An unnamed file (O_TMPFILE): nothing to clean up, whatever way the process ends. */
static int open_overlay(uint64_t size)
{
	const char *dirs[] = {getenv("TMPDIR"), "/var/tmp", "/tmp"};
	int fd = -ENOENT;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)size) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

const char *virtio_blk_unusable(const struct disk_cfg *cfg)
{
	struct stat st;
	if (access(cfg->path, R_OK | (cfg->ro || cfg->cow ? 0 : W_OK)) < 0 ||
	    stat(cfg->path, &st) < 0)
		return strerror(errno);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return "not a regular file or block device";
	return NULL;
}

int virtio_blk_create(struct virtio_blk **out, const struct disk_cfg *cfg, unsigned index,
                      const struct guest_mem *gm, unsigned vm_id, char *why, size_t whylen)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return fail(why, whylen, -ENOMEM, "out of memory");
	b->fd = b->ovl_fd = -1;
	b->ro = cfg->ro;
	b->cow = cfg->cow;
	int r;
	bool rdonly = cfg->ro || cfg->cow;
	/* O_NONBLOCK until the type is known: a FIFO must not hang the open (the path may have
	 * been swapped since main checked it). Cleared below: io_uring would return EAGAIN for
	 * O_NONBLOCK files instead of waiting. */
	b->fd = open(cfg->path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0) {
		r = fail(why, whylen, -errno, "--disk %s: %s", cfg->path, strerror(errno));
		goto err;
	}
	/* One writer per image, or any number of readers (ro and cow instances share). */
	if (flock(b->fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		r = fail(why, whylen, -errno, "--disk %s: in use by another VM (%s)", cfg->path,
		         strerror(errno));
		goto err;
	}
	struct stat st;
	uint64_t size = 0;
	if (fstat(b->fd, &st) < 0) {
		r = fail(why, whylen, -errno, "--disk %s: %s", cfg->path, strerror(errno));
		goto err;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
			r = fail(why, whylen, -errno, "--disk %s: %s", cfg->path, strerror(errno));
			goto err;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		r = fail(why, whylen, -EINVAL, "--disk %s: not a regular file or block device",
		         cfg->path);
		goto err;
	}
	if (fcntl(b->fd, F_SETFL, 0) < 0) {
		r = fail(why, whylen, -errno, "--disk %s: %s", cfg->path, strerror(errno));
		goto err;
	}
	b->sectors = size / SECTOR;
	if (size % SECTOR)
		log_warn("--disk %s: size is not a multiple of 512; the last %" PRIu64
		         " bytes are not visible",
		         cfg->path, (uint64_t)(size % SECTOR));
	if (b->cow) {
		b->ovl_fd = open_overlay(size);
		if (b->ovl_fd < 0) {
			r = fail(why, whylen, b->ovl_fd,
			         "--disk %s,cow: cannot create the overlay: %s", cfg->path,
			         strerror(-b->ovl_fd));
			goto err;
		}
		b->cow_map = calloc(1, b->sectors / 8 + 1);
		if (!b->cow_map) {
			r = fail(why, whylen, -ENOMEM, "--disk %s,cow: out of memory", cfg->path);
			goto err;
		}
	}
	r = io_uring_queue_init(RING_ENTRIES, &b->ring, 0);
	if (r < 0) {
		r = fail(why, whylen, r, "io_uring_queue_init: %s", strerror(-r));
		goto err;
	}
	b->ring_ok = true;
	snprintf(b->id, sizeof(b->id), "fastvmm-vd%u", index);

	uint64_t features = (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
	                    (1ULL << VIRTIO_BLK_F_FLUSH);
	if (b->ro)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	virtio_mmio_init(&b->mmio, &blk_ops, b, gm, vm_id, features);
	/* struct virtio_blk_config (§5.2.4) */
	uint8_t *c = b->mmio.config;
	put_le64(c + 0, b->sectors);
	put_le32(c + 12, VIRTQ_MAX_CHAIN - 2); /* seg_max: header and status take two */
	put_le32(c + 36, (uint32_t)(MAX_SEG_BYTES / SECTOR)); /* max_discard_sectors */
	put_le32(c + 40, 1);                                  /* max_discard_seg */
	put_le32(c + 44, 8);                                  /* discard_sector_alignment */
	put_le32(c + 48, (uint32_t)(MAX_SEG_BYTES / SECTOR)); /* max_write_zeroes_sectors */
	put_le32(c + 52, 1);                                  /* max_write_zeroes_seg */
	c[56] = 1;                                            /* write_zeroes_may_unmap */
	b->mmio.config_len = 60;
	*out = b;
	return 0;
err:
	virtio_blk_destroy(b);
	return r;
}

int virtio_blk_start(struct virtio_blk *b, struct iothread *io)
{
	/* The ring's fd polls readable while completions wait: no eventfd to register (that
	 * costs ~70 us at launch here). */
	return iothread_add(io, b->ring.ring_fd, EPOLLIN, blk_complete_ready, b) ? 0 : -errno;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	if (b->ring_ok) {
		/* Nothing may still write into guest RAM or the image after we return. */
		io_uring_submit(&b->ring);
		while (b->inflight) {
			struct io_uring_cqe *cqe;
			int wr = io_uring_wait_cqe(&b->ring, &cqe);
			if (wr == -EINTR)
				continue; /* a signal (a vCPU kick, SIGTERM): not the end */
			if (wr < 0) {
				/* Cannot happen on a ring we own; the ring's exit below still
				 * cancels and waits for what is left. */
				log_warn("virtio-blk: waiting for %u requests: %s", b->inflight,
				         strerror(-wr));
				break;
			}
			struct blk_req *r = io_uring_cqe_get_data(cqe);
			io_uring_cqe_seen(&b->ring, cqe);
			if (r && --r->pending == 0) {
				b->inflight--;
				free(r->bounce);
				free(r->zeros);
				free(r);
			}
		}
		io_uring_queue_exit(&b->ring);
	}
	if (b->ovl_fd >= 0)
		close(b->ovl_fd);
	if (b->fd >= 0)
		close(b->fd);
	free(b->cow_map);
	pthread_mutex_destroy(&b->mmio.lock);
	free(b);
}

/* ---- snapshots (include/snapshot.h) ---- */

unsigned virtio_blk_inflight(struct virtio_blk *b)
{
	return b->inflight; /* b->mmio.lock held */
}

int virtio_blk_flush(struct virtio_blk *b)
{
	if (b->cow)
		return -ENOTSUP; /* the overlay is unnamed and private: nothing a clone could use */
	if (b->ro)
		return 0;
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

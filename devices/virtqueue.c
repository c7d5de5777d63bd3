/* devices/virtqueue.c — split virtqueues (virtio 1.x §2.7), with every guest value checked.
 *
 * The rings live in guest memory that the guest can change at any moment. Each value is read
 * ONCE into a local (descriptors are copied whole), validated, and only the copy is used, so a
 * guest racing us cannot make a checked value unchecked. All guest memory is reached through
 * gm_ptr(); nothing here does arithmetic on a host pointer derived from guest RAM except
 * within a range gm_ptr() has already approved. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cc.h"
#include "virtio.h"

#define DESC_SIZE 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static int fault(struct virtq_err *e, const char *fmt, ...) PRINTF(2, 3);
static int fault(struct virtq_err *e, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint64_t avail_bytes(uint16_t num)
{
	return 6 + 2ULL * num; /* flags, idx, ring[num], used_event */
}

static uint64_t used_bytes(uint16_t num)
{
	return 6 + 8ULL * num; /* flags, idx, ring[num] of {id, len}, avail_event */
}

int virtq_enable(struct virtq *q, const struct guest_mem *gm, uint16_t max, struct virtq_err *e)
{
	uint16_t n = q->num;
	if (n == 0 || n > max || (n & (n - 1)))
		return fault(e, "queue size %u is not a power of two in 1..%u", n, max);
	if (q->desc_gpa % 16 || q->avail_gpa % 2 || q->used_gpa % 4)
		return fault(e,
		             "misaligned ring (desc 0x%" PRIx64 ", avail 0x%" PRIx64
		             ", used 0x%" PRIx64 ")",
		             q->desc_gpa, q->avail_gpa, q->used_gpa);
	if (!gm_ptr(gm, q->desc_gpa, (uint64_t)DESC_SIZE * n))
		return fault(e,
		             "descriptor table outside guest RAM (gpa 0x%" PRIx64 ", %u entries)",
		             q->desc_gpa, n);
	if (!gm_ptr(gm, q->avail_gpa, avail_bytes(n)))
		return fault(e, "available ring outside guest RAM (gpa 0x%" PRIx64 ", size %u)",
		             q->avail_gpa, n);
	if (!gm_ptr(gm, q->used_gpa, used_bytes(n)))
		return fault(e, "used ring outside guest RAM (gpa 0x%" PRIx64 ", size %u)",
		             q->used_gpa, n);
	q->last_avail = 0;
	q->used_idx = 0;
	q->ready = true;
	return 0;
}

static uint16_t load16_acquire(const uint8_t *p)
{
	/* Ring fields are naturally aligned (checked in virtq_enable). */
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

bool virtq_has_avail(const struct virtq *q, const struct guest_mem *gm)
{
	const uint8_t *avail = q->ready ? gm_ptr(gm, q->avail_gpa, avail_bytes(q->num)) : NULL;
	return avail && load16_acquire(avail + 2) != q->last_avail;
}

int virtq_pop(struct virtq *q, const struct guest_mem *gm, bool indirect, struct virtq_chain *c,
              struct virtq_err *e)
{
	if (!q->ready)
		return 0;
	const uint16_t num = q->num;
	const uint8_t *avail = gm_ptr(gm, q->avail_gpa, avail_bytes(num));
	const uint8_t *main_table = gm_ptr(gm, q->desc_gpa, (uint64_t)DESC_SIZE * num);
	if (!avail || !main_table)
		return fault(e, "rings no longer inside guest RAM");
	uint16_t idx = load16_acquire(avail + 2);
	uint16_t pending = (uint16_t)(idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > num)
		return fault(e,
		             "available index %u is %u entries ahead of the device (queue size %u)",
		             idx, pending, num);
	uint16_t head = le16(avail + 4 + 2 * (q->last_avail % num));
	if (head >= num)
		return fault(e, "available ring slot %u holds descriptor index %u (queue size %u)",
		             q->last_avail % num, head, num);

	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	const uint8_t *table = main_table;
	uint32_t table_size = num, visited = 0;
	bool in_indirect = false;
	uint16_t i = head;
	for (;;) {
		if (++visited > table_size)
			return fault(e, "descriptor chain from head %u loops (more than %u links)",
			             head, table_size);
		struct desc d;
		const uint8_t *raw = table + (size_t)i * DESC_SIZE;
		d.addr = le64(raw);
		d.len = le32(raw + 8);
		d.flags = le16(raw + 12);
		d.next = le16(raw + 14);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!indirect)
				return fault(e,
				             "descriptor %u is indirect, but INDIRECT_DESC was not "
				             "negotiated",
				             i);
			if (in_indirect)
				return fault(e, "indirect descriptor %u inside an indirect table",
				             i);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return fault(e, "descriptor %u is both INDIRECT and NEXT", i);
			if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > VIRTQ_MAX_CHAIN)
				return fault(e, "indirect table of descriptor %u has bad length %u",
				             i, d.len);
			const uint8_t *t = gm_ptr(gm, d.addr, d.len);
			if (!t)
				return fault(
				        e,
				        "indirect table of descriptor %u outside guest RAM (gpa "
				        "0x%" PRIx64 ", len %u)",
				        i, d.addr, d.len);
			table = t;
			table_size = d.len / DESC_SIZE;
			visited = 0;
			in_indirect = true;
			i = 0;
			continue;
		}
		void *p = gm_ptr(gm, d.addr, d.len);
		if (!p)
			return fault(e,
			             "descriptor %u points outside guest RAM (gpa 0x%" PRIx64
			             ", len %u)",
			             i, d.addr, d.len);
		if (c->nout + c->nin >= VIRTQ_MAX_CHAIN)
			return fault(e, "descriptor chain from head %u is longer than %u segments",
			             head, VIRTQ_MAX_CHAIN);
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			c->in_len += d.len;
			c->iov[c->nout + c->nin++] = (struct iovec){p, d.len};
		} else {
			if (c->nin)
				return fault(e,
				             "descriptor %u is device-readable but follows a "
				             "device-writable one",
				             i);
			c->out_len += d.len;
			c->iov[c->nout++] = (struct iovec){p, d.len};
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return fault(e, "descriptor %u links to index %u (table size %u)", i,
			             d.next, table_size);
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

int virtq_push(struct virtq *q, const struct guest_mem *gm, uint16_t head, uint32_t len)
{
	uint8_t *used = q->ready ? gm_ptr(gm, q->used_gpa, used_bytes(q->num)) : NULL;
	if (!used)
		return -EINVAL;
	uint8_t *elem = used + 4 + 8 * (size_t)(q->used_idx % q->num);
	put_le32(elem, head);
	put_le32(elem + 4, len);
	q->used_idx++;
	/* The element must be visible before the index that publishes it (§2.7.14). */
	__atomic_store_n((uint16_t *)(void *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
	return 0;
}

bool virtq_should_notify(const struct virtq *q, const struct guest_mem *gm)
{
	const uint8_t *avail = q->ready ? gm_ptr(gm, q->avail_gpa, avail_bytes(q->num)) : NULL;
	if (!avail)
		return false;
	/* Our used-index store must be ordered before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(load16_acquire(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copy between a flat buffer and the iovec bytes from off on: to_iov picks the direction. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len,
                       bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		uint8_t *v = (uint8_t *)iov[i].iov_base + off, *b = (uint8_t *)buf + done;
		if (to_iov)
			memcpy(v, b, k);
		else
			memcpy(b, v, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	/* buf is only read in this direction. */
	return iov_copy(iov, n, off, (void *)(uintptr_t)buf, len, true);
}

int iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst,
              unsigned dst_max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t take = src[i].iov_len - off;
		if (take > len)
			take = len;
		if (k >= dst_max)
			return -E2BIG;
		dst[k++] = (struct iovec){(uint8_t *)src[i].iov_base + off, take};
		len -= take;
		off = 0;
	}
	return len ? -ERANGE : (int)k;
}

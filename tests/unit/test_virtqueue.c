/* Unit tests: split virtqueue against crafted descriptor tables in a fake guest RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cc.h"
#include "virtio.h"

#define RAM      (1 << 20)
#define DESC     0x1000
#define AVAIL    0x2000
#define USED     0x3000
#define INDIRECT 0x4000
#define DATA     0x10000
#define QSIZE    8

static uint8_t *ram;
static struct guest_mem gm;
static struct virtq q;
static struct virtq_chain *chain;
static struct virtq_err err;

static int setup(void **state)
{
	(void)state;
	ram = calloc(1, RAM);
	chain = calloc(1, sizeof(*chain));
	gm_init_buffer(&gm, ram, RAM);
	memset(&q, 0, sizeof(q));
	q.num = QSIZE;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	memset(&err, 0, sizeof(err));
	return virtq_enable(&q, &gm, VIRTQ_MAX_SIZE, &err);
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	free(chain);
	return 0;
}

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
	uint8_t *d = gm_ptr(&gm, table + 16 * i, 16);
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Offer head at the next avail slot. */
static void offer(uint16_t head)
{
	uint8_t *a = gm_ptr(&gm, AVAIL, 6 + 2 * QSIZE);
	uint16_t idx = le16(a + 2);
	put_le16(a + 4 + 2 * (idx % QSIZE), head);
	put_le16(a + 2, (uint16_t)(idx + 1));
}

static int pop(bool indirect)
{
	memset(&err, 0, sizeof(err));
	return virtq_pop(&q, &gm, indirect, chain, &err);
}

static void enable_checks(void **state)
{
	(void)state;
	struct virtq v = {.num = 0, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED};
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "power of two"));
	v.num = 6;
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	v.num = 512;
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	v.num = 256;
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), 0);
	v.desc_gpa = DESC + 8;
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "misaligned"));
	v.desc_gpa = RAM - 16 * 255; /* one entry short of fitting */
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "descriptor table outside guest RAM"));
	v.desc_gpa = DESC;
	v.used_gpa = UINT64_MAX - 3; /* aligned, wraps */
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "used ring"));
	v.used_gpa = USED;
	v.avail_gpa = RAM - 4;
	assert_int_equal(virtq_enable(&v, &gm, 256, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "available ring"));
}

static void empty_ring(void **state)
{
	(void)state;
	assert_int_equal(pop(false), 0);
	assert_false(virtq_has_avail(&q, &gm));
}

static void simple_chain_and_push(void **state)
{
	(void)state;
	set_desc(DESC, 3, DATA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(DESC, 5, DATA + 512, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(DESC, 1, DATA + 4096, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(3);
	assert_true(virtq_has_avail(&q, &gm));
	assert_int_equal(pop(false), 1);
	assert_int_equal(chain->head, 3);
	assert_int_equal(chain->nout, 1);
	assert_int_equal(chain->nin, 2);
	assert_int_equal(chain->out_len, 16);
	assert_int_equal(chain->in_len, 513);
	assert_ptr_equal(chain->iov[0].iov_base, ram + DATA);
	assert_ptr_equal(chain->iov[1].iov_base, ram + DATA + 512);
	assert_ptr_equal(chain->iov[2].iov_base, ram + DATA + 4096);
	assert_int_equal(pop(false), 0);

	assert_int_equal(virtq_push(&q, &gm, 3, 513), 0);
	uint8_t *used = gm_ptr(&gm, USED, 6 + 8 * QSIZE);
	assert_int_equal(le16(used + 2), 1);
	assert_int_equal(le32(used + 4), 3);
	assert_int_equal(le32(used + 8), 513);
	assert_true(virtq_should_notify(&q, &gm));
	put_le16(gm_ptr(&gm, AVAIL, 2), VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_false(virtq_should_notify(&q, &gm));
}

static void ring_wraps_around(void **state)
{
	(void)state;
	set_desc(DESC, 0, DATA, 8, 0, 0);
	for (unsigned i = 0; i < 3 * QSIZE; i++) {
		offer(0);
		assert_int_equal(pop(false), 1);
		assert_int_equal(virtq_push(&q, &gm, 0, 0), 0);
	}
	/* 16-bit index wrap. */
	q.last_avail = q.used_idx = 0xfffe;
	put_le16(gm_ptr(&gm, AVAIL + 2, 2), 0xfffe);
	offer(0);
	offer(0);
	offer(0);
	assert_int_equal(pop(false), 1);
	assert_int_equal(pop(false), 1);
	assert_int_equal(pop(false), 1);
	assert_int_equal(q.last_avail, 1);
	assert_int_equal(pop(false), 0);
}

static void out_of_range_address(void **state)
{
	(void)state;
	set_desc(DESC, 0, RAM - 100, 4096, 0, 0);
	offer(0);
	assert_int_equal(pop(false), -EINVAL);
	assert_string_equal(err.msg,
	                    "descriptor 0 points outside guest RAM (gpa 0xfff9c, len 4096)");
}

static void wrapping_length(void **state)
{
	(void)state;
	set_desc(DESC, 0, UINT64_MAX - 15, 0xffffffff, 0, 0);
	offer(0);
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "outside guest RAM"));
}

static void zero_and_max_length(void **state)
{
	(void)state;
	/* Zero-length segments are harmless and accepted; a segment as large as RAM too. */
	set_desc(DESC, 0, RAM, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, 0, RAM, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	assert_int_equal(pop(false), 1);
	assert_int_equal(chain->out_len, 0);
	assert_int_equal(chain->in_len, RAM);
	/* One byte more than RAM is not. */
	set_desc(DESC, 2, 0, RAM + 1, 0, 0);
	offer(2);
	assert_int_equal(pop(false), -EINVAL);
	/* Maximal 32-bit length. */
	set_desc(DESC, 3, 0, UINT32_MAX, 0, 0);
	offer(3);
	q.last_avail++; /* skip the faulty one */
	assert_int_equal(pop(false), -EINVAL);
}

static void loops_through_next(void **state)
{
	(void)state;
	set_desc(DESC, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "loops"));
	/* Self-loop. */
	q.last_avail = 0;
	set_desc(DESC, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 0);
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "loops"));
	/* A full-length chain (all QSIZE descriptors) is fine. */
	q.last_avail = 0;
	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(DESC, i, DATA, 8, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
		         (uint16_t)(i + 1));
	assert_int_equal(pop(false), 1);
	assert_int_equal(chain->nout, QSIZE);
}

static void bad_indices(void **state)
{
	(void)state;
	offer(QSIZE); /* head out of range */
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "descriptor index 8"));
	q.last_avail = 0;
	put_le16(gm_ptr(&gm, AVAIL + 4, 2), 0);
	set_desc(DESC, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 200); /* next out of range */
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "links to index 200"));
	/* avail idx jumping more than the queue size ahead. */
	q.last_avail = 0;
	put_le16(gm_ptr(&gm, AVAIL + 2, 2), QSIZE + 1);
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "ahead"));
}

static void readable_after_writable(void **state)
{
	(void)state;
	set_desc(DESC, 0, DATA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(DESC, 1, DATA, 8, 0, 0);
	offer(0);
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "follows a device-writable"));
}

static void indirect_tables(void **state)
{
	(void)state;
	set_desc(INDIRECT, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(INDIRECT, 1, DATA + 16, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(INDIRECT, 2, DATA + 8192, 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(DESC, 0, INDIRECT, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	/* Not negotiated: a fault. */
	assert_int_equal(pop(false), -EINVAL);
	assert_non_null(strstr(err.msg, "not negotiated"));
	q.last_avail = 0;
	assert_int_equal(pop(true), 1);
	assert_int_equal(chain->nout, 1);
	assert_int_equal(chain->nin, 2);
	assert_int_equal(chain->in_len, 4097);

	/* Bad table lengths. */
	static const uint32_t bad[] = {0, 15, 17, (VIRTQ_MAX_CHAIN + 1) * 16};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		q.last_avail = 0;
		set_desc(DESC, 0, INDIRECT, bad[i], VIRTQ_DESC_F_INDIRECT, 0);
		assert_int_equal(pop(true), -EINVAL);
		assert_non_null(strstr(err.msg, "bad length"));
	}
	/* Table outside RAM. */
	q.last_avail = 0;
	set_desc(DESC, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop(true), -EINVAL);
	/* INDIRECT|NEXT. */
	q.last_avail = 0;
	set_desc(DESC, 0, INDIRECT, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	assert_int_equal(pop(true), -EINVAL);
	/* Nested indirect. */
	q.last_avail = 0;
	set_desc(DESC, 0, INDIRECT, 48, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(INDIRECT, 2, INDIRECT, 48, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop(true), -EINVAL);
	assert_non_null(strstr(err.msg, "inside an indirect"));
	/* Loop inside the indirect table. */
	q.last_avail = 0;
	set_desc(INDIRECT, 2, DATA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(pop(true), -EINVAL);
	assert_non_null(strstr(err.msg, "loops"));
}

static void chain_length_bound(void **state)
{
	(void)state;
	/* The largest indirect table: VIRTQ_MAX_CHAIN entries, accepted. */
	for (unsigned i = 0; i < VIRTQ_MAX_CHAIN; i++)
		set_desc(0x20000, i, DATA, 1, i + 1 < VIRTQ_MAX_CHAIN ? VIRTQ_DESC_F_NEXT : 0,
		         (uint16_t)(i + 1));
	set_desc(DESC, 0, 0x20000, VIRTQ_MAX_CHAIN * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_int_equal(pop(true), 1);
	assert_int_equal(chain->nout, VIRTQ_MAX_CHAIN);
	/* A direct descriptor before it pushes the chain over the bound. */
	q.last_avail = 0;
	set_desc(DESC, 1, DATA, 1, VIRTQ_DESC_F_NEXT, 0);
	put_le16(gm_ptr(&gm, AVAIL + 4, 2), 1);
	assert_int_equal(pop(true), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
}

static void iov_helpers(void **state)
{
	(void)state;
	char a[4] = "abcd", b[3] = "efg", out[8] = {0};
	struct iovec v[2] = {{a, 4}, {b, 3}}, d[4];
	assert_int_equal(iov_to_buf(v, 2, 2, out, 4), 4);
	assert_memory_equal(out, "cdef", 4);
	assert_int_equal(iov_to_buf(v, 2, 6, out, 4), 1);
	assert_int_equal(iov_from_buf(v, 2, 3, "XYZ", 3), 3);
	assert_memory_equal(a, "abcX", 4);
	assert_memory_equal(b, "YZg", 3);
	assert_int_equal(iov_slice(v, 2, 3, 3, d, 4), 2);
	assert_ptr_equal(d[0].iov_base, a + 3);
	assert_int_equal(d[0].iov_len, 1);
	assert_int_equal(d[1].iov_len, 2);
	assert_int_equal(iov_slice(v, 2, 3, 5, d, 4), -ERANGE);
	assert_int_equal(iov_slice(v, 2, 0, 7, d, 1), -E2BIG);
	assert_int_equal(iov_slice(v, 2, 7, 0, d, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(enable_checks, setup, teardown),
	        cmocka_unit_test_setup_teardown(empty_ring, setup, teardown),
	        cmocka_unit_test_setup_teardown(simple_chain_and_push, setup, teardown),
	        cmocka_unit_test_setup_teardown(ring_wraps_around, setup, teardown),
	        cmocka_unit_test_setup_teardown(out_of_range_address, setup, teardown),
	        cmocka_unit_test_setup_teardown(wrapping_length, setup, teardown),
	        cmocka_unit_test_setup_teardown(zero_and_max_length, setup, teardown),
	        cmocka_unit_test_setup_teardown(loops_through_next, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_indices, setup, teardown),
	        cmocka_unit_test_setup_teardown(readable_after_writable, setup, teardown),
	        cmocka_unit_test_setup_teardown(indirect_tables, setup, teardown),
	        cmocka_unit_test_setup_teardown(chain_length_bound, setup, teardown),
	        cmocka_unit_test(iov_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

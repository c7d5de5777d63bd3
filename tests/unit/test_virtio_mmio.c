/* Unit tests: the virtio-mmio v2 register state machine, with a fake device and fake RAM. */
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

#define RAM (1 << 20)

static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_mmio dev;
static unsigned notified[VIRTIO_MAX_QUEUES], resets, irqs_raised;

static void fake_notify(struct virtio_mmio *d, unsigned q)
{
	(void)d;
	notified[q]++;
}
static void fake_reset(struct virtio_mmio *d)
{
	(void)d;
	resets++;
}
static void fake_irq(struct virtio_mmio *d)
{
	(void)d;
	irqs_raised++;
}

static const struct virtio_dev_ops fake_ops = {
        .name = "virtio-fake",
        .device_id = 42,
        .nqueues = 2,
        .notify = fake_notify,
        .reset = fake_reset,
};

static uint32_t rd(uint64_t off)
{
	uint8_t b[4];
	virtio_mmio_access(&dev, off, b, 4, false);
	return le32(b);
}
static void wr(uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	virtio_mmio_access(&dev, off, b, 4, true);
}

static int setup(void **state)
{
	(void)state;
	ram = calloc(1, RAM);
	gm_init_buffer(&gm, ram, RAM);
	virtio_mmio_init(&dev, &fake_ops, NULL, &gm, 3, 1ULL << VIRTIO_F_INDIRECT_DESC);
	dev.raise_irq = fake_irq;
	dev.config_len = 8;
	memcpy(dev.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	memset(notified, 0, sizeof(notified));
	resets = irqs_raised = 0;
	return 0;
}
static int teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

/* The driver's side of §3.1.1, up to FEATURES_OK. */
static void negotiate(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(unsigned q, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, q);
	wr(VIRTIO_MMIO_QUEUE_NUM, num);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
}

static void identity(void **state)
{
	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1u << VIRTIO_F_INDIRECT_DESC);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	/* Unaligned or narrow register accesses read as 0 and write nothing. */
	uint8_t b[2] = {0xff, 0xff};
	virtio_mmio_access(&dev, VIRTIO_MMIO_MAGIC_VALUE, b, 2, false);
	assert_int_equal(b[0], 0);
	/* Config space: any width within its size, zeros beyond. */
	virtio_mmio_access(&dev, VIRTIO_MMIO_CONFIG + 6, b, 2, false);
	assert_int_equal(b[0], 7);
	assert_int_equal(b[1], 8);
	virtio_mmio_access(&dev, VIRTIO_MMIO_CONFIG + 7, b, 2, false);
	assert_int_equal(b[0], 0);
	virtio_mmio_access(&dev, VIRTIO_MMIO_CONFIG + 0xe00, b, 2, false);
	assert_int_equal(b[0], 0);
	/* Without a config_write op, config space is read-only to the driver. */
	b[0] = 0xaa;
	virtio_mmio_access(&dev, VIRTIO_MMIO_CONFIG, b, 1, true);
	virtio_mmio_access(&dev, VIRTIO_MMIO_CONFIG, b, 1, false);
	assert_int_equal(b[0], 1);
}

static void feature_negotiation(void **state)
{
	(void)state;
	const uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1, ind = 1ULL << VIRTIO_F_INDIRECT_DESC;
	/* OSv v0.57's blk/net drivers ack only offered bits but never VERSION_1: the transport
	 * is modern-only, so VERSION_1 is implied and FEATURES_OK sticks (its assert passes). */
	assert_false(dev.tolerated_logged);
	negotiate(ind);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(dev.features, v1 | ind);
	assert_true(dev.tolerated_logged); /* one line a device, not one a negotiation */
	negotiate(0);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(dev.features, v1);
	/* Bits we never offered (Unikraft acks VIRTIO_NET_F_GUEST_ANNOUNCE, bit 21, always):
	 * masked away, like Firecracker; the device only ever sees what it offered. */
	negotiate(v1 | ind | (1ULL << 21) | 1 | (1ULL << 40) | (1ULL << 63));
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(dev.features, v1 | ind);
	assert_int_equal(dev.features & ~dev.host_features, 0);
	negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC));
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(dev.features,
	                 (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC));
	/* Features are frozen after FEATURES_OK. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_int_equal(dev.features,
	                 (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC));
	/* The driver cannot set NEEDS_RESET. */
	wr(VIRTIO_MMIO_STATUS, 11 | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 11);
	/* Status bits cannot be cleared without a reset. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 11);
	/* Reset clears everything and tells the device. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(dev.features, 0);
	assert_int_equal(resets, 5); /* negotiate() resets first, four times, then ours */
}

static void driver_ok_needs_features_ok(void **state)
{
	(void)state;
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void queue_setup_and_notify(void **state)
{
	(void)state;
	/* Queue registers before FEATURES_OK are ignored. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	assert_int_equal(dev.vq[0].num, 0);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 8, 0x1000, 0x2000, 0x3000);
	setup_queue(1, 256, 0x8000, 0x5000, 0x6000);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(dev.vq[0].num, 8);
	assert_int_equal(dev.vq[0].desc_gpa, 0x1000);
	/* A ready queue's registers are frozen. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	assert_int_equal(dev.vq[0].num, 8);
	/* Notifications before DRIVER_OK are held; at DRIVER_OK each live queue is kicked. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(notified[0], 0);
	wr(VIRTIO_MMIO_STATUS, 15);
	assert_int_equal(notified[0], 1);
	assert_int_equal(notified[1], 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(notified[1], 2);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 2); /* no such queue */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_int_equal(notified[0] + notified[1], 3);
	assert_false(dev.faulted);
}

static void bad_queues_fault(void **state)
{
	(void)state;
	static const struct {
		uint32_t num;
		uint64_t desc, avail, used;
	} bad[] = {
	        {0, 0x1000, 0x2000, 0x3000},                /* size 0 */
	        {12, 0x1000, 0x2000, 0x3000},               /* not a power of two */
	        {512, 0x1000, 0x2000, 0x3000},              /* above QueueNumMax */
	        {0x10008, 0x1000, 0x2000, 0x3000},          /* above 16 bits */
	        {8, 0x1008, 0x2000, 0x3000},                /* misaligned */
	        {8, RAM - 64, 0x2000, 0x3000},              /* desc table past the end */
	        {8, 0x1000, 0x2000, 0xd0000000},            /* used ring in MMIO space */
	        {8, 0x1000, 0xfffffffffffffff0ULL, 0x3000}, /* wraps */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		negotiate(1ULL << VIRTIO_F_VERSION_1);
		assert_false(dev.faulted);
		setup_queue(0, bad[i].num, bad[i].desc, bad[i].avail, bad[i].used);
		assert_true(dev.faulted);
		assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		wr(VIRTIO_MMIO_STATUS, 15);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		assert_int_equal(notified[0], 0);
	}
	/* A reset brings the device back. */
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	setup_queue(0, 8, 0x1000, 0x2000, 0x3000);
	assert_false(dev.faulted);
}

static void fault_after_driver_ok_interrupts(void **state)
{
	(void)state;
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 8, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_STATUS, 15);
	uint32_t gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_mmio_fault(&dev, "test fault");
	assert_int_equal(irqs_raised, 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	assert_int_not_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 15 | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Completions to a faulted device are dropped. */
	virtio_mmio_complete(&dev, 0, 0, 0);
	assert_int_equal(le16(ram + 0x3002), 0);
}

static void completion_interrupts(void **state)
{
	(void)state;
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 8, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_STATUS, 15);
	virtio_mmio_complete(&dev, 0, 5, 100);
	assert_int_equal(le16(ram + 0x3002), 1);
	assert_int_equal(le32(ram + 0x3004), 5);
	assert_int_equal(le32(ram + 0x3008), 100);
	assert_int_equal(irqs_raised, 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED);
	put_le16(ram + 0x2000, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtio_mmio_complete(&dev, 0, 6, 0);
	assert_int_equal(irqs_raised, 1);
}

static bool refuse_all(struct virtio_mmio *d, uint64_t f)
{
	(void)d;
	(void)f;
	return false;
}

/* A device-side refusal (the tap rejected offloads) is the one refusal left, and DRIVER_OK
 * without an accepted FEATURES_OK still faults the device: no queue runs unnegotiated. */
static void device_refusal_kept(void **state)
{
	(void)state;
	static const struct virtio_dev_ops refusing = {
	        .name = "virtio-refusing",
	        .device_id = 42,
	        .nqueues = 2,
	        .notify = fake_notify,
	        .reset = fake_reset,
	        .features_ok = refuse_all,
	};
	virtio_mmio_init(&dev, &refusing, NULL, &gm, 3, 1ULL << VIRTIO_F_INDIRECT_DESC);
	dev.raise_irq = fake_irq;
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(VIRTIO_MMIO_STATUS, 15);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* Unikraft 0.17's order: features (with an unoffered bit), FEATURES_OK written and never
 * read back, queues, then DRIVER_OK. The device must come up and run its queues. */
static void loose_driver_comes_up(void **state)
{
	(void)state;
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (1u << 21) | (1u << 5));
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	setup_queue(0, 8, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_STATUS, 15);
	uint32_t st = rd(VIRTIO_MMIO_STATUS);
	assert_int_equal(st, 15);
	assert_int_equal(dev.features, 1ULL << VIRTIO_F_VERSION_1);
	assert_true(virtio_mmio_queue_live(&dev, 0));
	unsigned before = notified[0]; /* DRIVER_OK itself looks at the live queues */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(notified[0], before + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(identity, setup, teardown),
	        cmocka_unit_test_setup_teardown(feature_negotiation, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_ok_needs_features_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(device_refusal_kept, setup, teardown),
	        cmocka_unit_test_setup_teardown(loose_driver_comes_up, setup, teardown),
	        cmocka_unit_test_setup_teardown(queue_setup_and_notify, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_queues_fault, setup, teardown),
	        cmocka_unit_test_setup_teardown(fault_after_driver_ok_interrupts, setup, teardown),
	        cmocka_unit_test_setup_teardown(completion_interrupts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

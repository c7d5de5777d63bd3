/* Unit tests: virtio-net rx/tx through the transport and virtqueues, with a SOCK_SEQPACKET
 * pair standing in for the tap: frames, num_buffers, rx backpressure (no buffers: the packet
 * waits in the socket, not dropped), tx backpressure (a full socket holds the chain until it
 * drains), and hostile chains. */
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc.h"
#include "virtio.h"

#define RAM      (1 << 20)
#define QSIZE    8
#define RXQ      0x1000 /* desc, avail +0x200, used +0x400 */
#define TXQ      0x2000
#define RXBUF    0x10000 /* 2 KiB each */
#define TXBUF    0x20000
#define AVAIL(q) ((q) + 0x200)
#define USED(q)  ((q) + 0x400)
#include "virtio_harness.h"

static struct virtio_net *net;
static int peer, dev_fd;
static uint16_t rx_seen, tx_seen;

static int setup(void **state)
{
	(void)state;
	harness_init(RAM);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
	                 0);
	peer = sv[1];
	dev_fd = sv[0];
	static const uint8_t mac[6] = {0x52, 0x54, 0, 1, 2, 3};
	assert_int_equal(virtio_net_create_fd(&net, sv[0], "pair", mac, &gm, 0), 0);
	d = virtio_net_mmio(net);
	d->raise_irq = on_irq;
	assert_int_equal(iothread_init(&io), 0);
	assert_int_equal(virtio_net_start(net, &io), 0);
	assert_int_equal(iothread_start(&io), 0);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, 3);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, 11);
	setup_queue(0, RXQ, AVAIL(RXQ), USED(RXQ));
	setup_queue(1, TXQ, AVAIL(TXQ), USED(TXQ));
	wr(VIRTIO_MMIO_STATUS, 15);
	rx_seen = tx_seen = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	iothread_stop(&io);
	virtio_net_destroy(net);
	close(peer);
	close(irq_fd);
	free(ram);
	return 0;
}

/* Wait up to ms for the used index of q to reach want. */
static bool wait_used(uint64_t q, uint16_t want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (used_idx(USED(q)) == want)
			return true;
		usleep(1000);
	}
	return used_idx(USED(q)) == want;
}

static void post_rx(unsigned i)
{
	set_desc(RXQ, i, RXBUF + 2048 * i, 2048, VIRTQ_DESC_F_WRITE, 0);
	offer(AVAIL(RXQ), 0, (uint16_t)i);
}

static void rx_with_backpressure(void **state)
{
	(void)state;
	uint8_t pkt[12 + 60];
	for (int k = 0; k < 3; k++) {
		memset(pkt, 0, 12);
		memset(pkt + 12, 0xa0 + k, 60);
		assert_int_equal(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
	}
	post_rx(0);
	assert_true(wait_used(RXQ, 1, 2000));
	const uint8_t *elem = ram + RXQ + 0x404;
	assert_int_equal(le32(elem), 0);
	assert_int_equal(le32(elem + 4), sizeof(pkt));
	assert_int_equal(le16(ram + RXBUF + 10), 1); /* num_buffers */
	assert_int_equal(ram[RXBUF + 12], 0xa0);
	/* No buffers: the other two wait in the socket. */
	usleep(20000);
	assert_int_equal(used_idx(USED(RXQ)), 1);
	post_rx(1);
	post_rx(2);
	assert_true(wait_used(RXQ, 3, 2000));
	assert_int_equal(ram[RXBUF + 2048 + 12], 0xa1);
	assert_int_equal(ram[RXBUF + 4096 + 12], 0xa2);
	/* A packet arriving while a buffer is posted is delivered without a notify. */
	post_rx(3);
	usleep(10000);
	memset(pkt + 12, 0xa3, 60);
	assert_int_equal(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
	assert_true(wait_used(RXQ, 4, 2000));
	assert_int_equal(ram[RXBUF + 3 * 2048 + 12], 0xa3);
}

static void tx_frames_and_backpressure(void **state)
{
	(void)state;
	/* Header and frame in two descriptors; the peer gets them as one datagram. */
	memset(ram + TXBUF, 0, 12);
	memset(ram + TXBUF + 12, 0x5a, 100);
	set_desc(TXQ, 0, TXBUF, 12, VIRTQ_DESC_F_NEXT, 1);
	set_desc(TXQ, 1, TXBUF + 12, 100, 0, 0);
	offer(AVAIL(TXQ), 1, 0);
	assert_true(wait_used(TXQ, 1, 2000));
	uint8_t b[256];
	assert_int_equal(recv(peer, b, sizeof(b), 0), 112);
	assert_int_equal(b[12], 0x5a);
	/* Fill the socket: chains stay unfinished (held, not dropped) until the peer reads. */
	int sndbuf = 4096; /* AF_UNIX: the sender's buffer is the limit */
	setsockopt(dev_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	set_desc(TXQ, 2, TXBUF, 1500, 0, 0);
	unsigned sent = 0;
	uint16_t done = 1;
	for (int round = 0; round < 64; round++) {
		offer(AVAIL(TXQ), 1, 2);
		sent++;
		usleep(2000);
		uint16_t u = used_idx(USED(TXQ));
		if ((uint16_t)(u - done) < sent) /* a chain is held */
			break;
		done = u, sent = 0;
	}
	assert_true(sent > 0);
	uint16_t before = used_idx(USED(TXQ));
	/* Drain the peer: EPOLLOUT resumes tx and every held chain completes. */
	unsigned got = 0;
	for (int i = 0; i < 2000 && used_idx(USED(TXQ)) != (uint16_t)(done + sent); i++) {
		while (recv(peer, b, sizeof(b), MSG_TRUNC) > 0)
			got++;
		usleep(1000);
	}
	assert_int_equal(used_idx(USED(TXQ)), (uint16_t)(done + sent));
	assert_true(used_idx(USED(TXQ)) != before || sent == 0);
	assert_false(d->faulted);
}

static void hostile_chains(void **state)
{
	(void)state;
	/* A tx chain with a device-writable descriptor: NEEDS_RESET. */
	set_desc(TXQ, 0, TXBUF, 12, VIRTQ_DESC_F_NEXT, 1);
	set_desc(TXQ, 1, TXBUF + 12, 100, VIRTQ_DESC_F_WRITE, 0);
	offer(AVAIL(TXQ), 1, 0);
	for (int i = 0; i < 1000 && !d->faulted; i++)
		usleep(1000);
	assert_true(d->faulted);
}

static void hostile_rx_buffer(void **state)
{
	(void)state;
	uint8_t pkt[12 + 60] = {0};
	assert_int_equal(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
	set_desc(RXQ, 0, RXBUF, 8, VIRTQ_DESC_F_WRITE, 0); /* smaller than the header */
	offer(AVAIL(RXQ), 0, 0);
	for (int i = 0; i < 1000 && !d->faulted; i++)
		usleep(1000);
	assert_true(d->faulted);
	assert_int_equal(used_idx(USED(RXQ)), 0);
}

/* tx has a per-notify budget (issue 12 item 3): a driver refilling the tx ring as fast as
 * the device completes (here from inside the interrupt callback) cannot keep one notify
 * call, and the device lock, going. The packets are oversized: dropped, completed at once. */
static unsigned refills, completions;
static void refill_tx_on_irq(struct virtio_mmio *dev)
{
	(void)dev;
	completions++;
	if (refills >= 100000)
		return;
	refills++;
	uint16_t idx = le16(ram + AVAIL(TXQ) + 2);
	put_le16(ram + AVAIL(TXQ) + 4 + 2 * (idx % QSIZE), 0);
	__atomic_store_n((uint16_t *)(void *)(ram + AVAIL(TXQ) + 2), (uint16_t)(idx + 1),
	                 __ATOMIC_RELEASE);
}

static void tx_is_budgeted(void **state)
{
	(void)state;
	set_desc(TXQ, 0, TXBUF, 70000, 0, 0); /* > MAX_FRAME: dropped without a write */
	refills = completions = 0;
	pthread_mutex_lock(&d->lock); /* keep the I/O thread's tap handler out of the count */
	d->raise_irq = refill_tx_on_irq;
	pthread_mutex_unlock(&d->lock);
	offer(AVAIL(TXQ), 1, 0);
	pthread_mutex_lock(&d->lock);
	unsigned done = completions;
	d->raise_irq = on_irq;
	pthread_mutex_unlock(&d->lock);
	if (done > QSIZE)
		fail_msg("one tx notify completed %u packets (queue size %d)", done, QSIZE);
	assert_int_equal(done, QSIZE);
	assert_false(d->faulted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(rx_with_backpressure, setup, teardown),
	        cmocka_unit_test_setup_teardown(tx_frames_and_backpressure, setup, teardown),
	        cmocka_unit_test_setup_teardown(hostile_chains, setup, teardown),
	        cmocka_unit_test_setup_teardown(hostile_rx_buffer, setup, teardown),
	        cmocka_unit_test_setup_teardown(tx_is_budgeted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

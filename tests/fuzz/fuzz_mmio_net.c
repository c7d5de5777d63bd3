/* Fuzz target: virtio-mmio registers and queues with the virtio-net backend on a
 * SOCK_SEQPACKET pair standing in for the tap; the peer holds two frames for rx, and a poll
 * runs the tap handler as the I/O thread would. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mmio_ops.h"

static void poll_net(void *n)
{
	virtio_net_poll(n, EPOLLIN | EPOLLOUT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_level = -1;
	struct fz f = {data, size};
	struct guest_mem gm;
	fuzz_ram_init(&f, &gm);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	uint8_t frame[12 + 64] = {0};
	(void)!send(sv[1], frame, sizeof(frame), 0);
	(void)!send(sv[1], frame, 20, 0);
	static const uint8_t mac[6] = {0x52, 0x54, 0, 1, 2, 3};
	struct virtio_net *n;
	if (virtio_net_create_fd(&n, sv[0], "fuzz", mac, &gm, 0) < 0)
		abort();
	struct virtio_mmio *d = virtio_net_mmio(n);
	d->raise_irq = fuzz_no_irq;
	fuzz_mmio_run(d, &f, poll_net, n);
	virtio_net_destroy(n);
	close(sv[1]);
	return 0;
}

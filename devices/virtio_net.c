/* devices/virtio_net.c — virtio-net on a tap device (not yet). */
#include <errno.h>
#include <stdio.h>

#include "virtio.h"

int virtio_net_create(struct virtio_net **out, const struct net_cfg *cfg, unsigned index,
                      const uint8_t mac[6], const struct guest_mem *gm, unsigned vm_id, char *why,
                      size_t whylen)
{
	(void)out, (void)cfg, (void)index, (void)mac, (void)gm, (void)vm_id;
	snprintf(why, whylen, "--net: virtio-net is not implemented yet");
	return -ENOSYS;
}
struct virtio_mmio *virtio_net_mmio(struct virtio_net *n)
{
	(void)n;
	return NULL;
}
int virtio_net_start(struct virtio_net *n, struct iothread *io)
{
	(void)n, (void)io;
	return -ENOSYS;
}
void virtio_net_destroy(struct virtio_net *n)
{
	(void)n;
}

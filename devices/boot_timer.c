/* devices/boot_timer.c — fastvmm guest ABI: any write to PORT_BOOT_TIMER marks the guest
 * "ready" (the moment its application starts), timestamped from the launch request. */
#include "layout.h"
#include "vmm.h"

static void boot_timer_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	(void)off, (void)data, (void)len;
	if (wr)
		vm_mark(opaque, ST_READY);
}

int boot_timer_init(struct vm *vm)
{
	return bus_register(&vm->pio, PORT_BOOT_TIMER, 1, boot_timer_io, vm, "boot-timer");
}

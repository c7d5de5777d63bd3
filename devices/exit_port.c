/* devices/exit_port.c — fastvmm guest ABI: a write of 1, 2 or 4 bytes to PORT_EXIT stops the
 * VM with exit code (value & 0xff), which becomes fastvmm's own exit status. */
#include "layout.h"
#include "vmm.h"

static void exit_port_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	if (!wr || off != 0)
		return;
	(void)len; /* the low byte is the code whatever the width */
	vm_stop(opaque, VM_EXITED, data[0], "guest exited with code %u", data[0]);
}

int exit_port_init(struct vm *vm)
{
	return bus_register(&vm->pio, PORT_EXIT, 4, exit_port_io, vm, "exit-port");
}

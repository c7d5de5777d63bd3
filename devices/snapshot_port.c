/* devices/snapshot_port.c — fastvmm guest ABI: PORT_SNAPSHOT (README "Guest ABI").
 *
 * A write is the guest's "snapshot me here": with --snapshot-at exit-port the VM is paused
 * and saved right after the write instruction, so the origin and every clone resume at the
 * instruction that follows it. A read tells the guest which one it is: 0 (no snapshot was
 * taken), 1 (the origin, after its snapshot), 0x80000000 | id (a clone restored as instance
 * id), so a guest can re-seed, re-address or report itself after a clone. */
#include "layout.h"
#include "snapshot.h"
#include "vmm.h"

static void snapshot_port_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct vm *vm = opaque;
	if (wr) {
		if (off == 0 && vm->snap_req && vm->snap_req->at == SNAP_AT_PORT)
			snapshot_request(vm);
		return;
	}
	uint32_t v = off == 0 ? __atomic_load_n(&vm->snap_port, __ATOMIC_ACQUIRE) : 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

int snapshot_port_init(struct vm *vm)
{
	return bus_register(&vm->pio, PORT_SNAPSHOT, 4, snapshot_port_io, vm, "snapshot-port");
}

/* devices/i8042.c — the keyboard controller, only as far as guests use it to reset the
 * machine: command 0xfe ("pulse reset line") on port 0x64 is a clean shutdown of the VM
 * (Linux's reboot=k, and the fallback of most reboot paths). No keyboard is attached. */
#include <string.h>

#include "layout.h"
#include "snapshot.h"
#include "vmm.h"

#define I8042_STATUS_SYS       0x04
#define I8042_CMD_RESET        0xfe
#define I8042_CMD_READ_OUTPORT 0xd0

static void i8042_cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct vm *vm = opaque;
	(void)off;
	if (len != 1)
		return;
	if (!wr) {
		data[0] = I8042_STATUS_SYS; /* input and output buffers empty */
		return;
	}
	vm->i8042.cmd = data[0];
	if (data[0] == I8042_CMD_RESET)
		vm_stop(vm, VM_SHUTDOWN, 0, "guest reset the machine (i8042)");
}

static void i8042_data_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct vm *vm = opaque;
	(void)off;
	if (len != 1)
		return;
	if (!wr)
		data[0] = vm->i8042.cmd == I8042_CMD_READ_OUTPORT ? vm->i8042.outport : 0;
	vm->i8042.cmd = 0;
}

int i8042_init(struct i8042 *k, struct vm *vm)
{
	memset(k, 0, sizeof(*k));
	k->outport = 0x01; /* "system reset" line high: not in reset */
	/* 0x60 and 0x64 only; 0x61 (the PIT speaker) belongs to the in-kernel PIT. */
	int r = bus_register(&vm->pio, PORT_I8042_DATA, 1, i8042_data_io, vm, "i8042-data");
	return r < 0 ? r : bus_register(&vm->pio, PORT_I8042_CMD, 1, i8042_cmd_io, vm, "i8042-cmd");
}

/* ---- snapshots (include/snapshot.h) ---- */

void i8042_save(const struct i8042 *k, struct i8042_state *st)
{
	st->cmd = k->cmd;
	st->outport = k->outport;
}

void i8042_restore(struct i8042 *k, const struct i8042_state *st)
{
	k->cmd = st->cmd;
	k->outport = st->outport;
}

/* devices/acpi_sleep.c — the FADT's hardware-reduced sleep control/status registers (ACPI 6.x
 * §4.8.3.7). Writing SLP_EN with SLP_TYP = 5 (our \_S5_) is a poweroff: the VM stops cleanly.
 * Other sleep states are not offered and are ignored. */
#include "acpi.h"
#include "layout.h"
#include "log.h"
#include "vmm.h"

#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK  7
#define SLP_EN        (1u << 5)

static void sleep_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;
	(void)len;
	if (!is_write) {
		data[0] = 0; /* status: never asleep, no wake pending */
		return;
	}
	uint8_t v = data[0];
	if (off == 0 && (v & SLP_EN) && ((v >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == ACPI_S5_TYPE)
		vm_stop(vm, VM_SHUTDOWN, 0, "guest powered off (ACPI S5)");
	else if (off == 0 && (v & SLP_EN))
		log_info("%sACPI sleep type %u requested; not supported, ignored", log_vm(vm->id),
		         (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK);
}

int acpi_sleep_init(struct vm *vm)
{
	return bus_register(&vm->pio, PORT_ACPI_SLEEP_CTL, 2, sleep_io, vm, "acpi-sleep");
}

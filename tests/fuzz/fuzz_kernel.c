/* Fuzz target: a kernel file (ELF64, PVH note, bzImage) parsed, placed into guest RAM, then
 * the initrd placed behind it and the boot information (cmdline, zero page or PVH start
 * info) written — everything fastvmm does with a kernel file before the first instruction.
 * Input: the kernel image; its last 64 bytes also serve as the command line. */
#include <stdlib.h>

#include "boot.h"
#include "fuzz.h"
#include "layout.h"
#include "log.h"

#define RAM (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	if (!ram) {
		ram = calloc(1, RAM);
		log_level = -1;
	}
	struct kernel_image k;
	struct err e;
	if (kernel_parse(&k, "fuzz", data, size, &e) < 0)
		return 0;
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, RAM);
	if (kernel_place(&k, &gm, &e) < 0)
		return 0;
	uint64_t initrd = 0;
	size_t isz = size < 4096 ? size : 4096;
	if (initrd_place(&k, &gm, data, isz, "initrd", &initrd, &e) < 0)
		isz = 0;
	char cmdline[65];
	size_t cl = size < 64 ? size : 64;
	memcpy(cmdline, data + size - cl, cl);
	cmdline[cl] = 0;
	if (boot_cmdline(&k, &gm, cmdline, &e) < 0)
		return 0;
	struct boot_params_in in = {.cmdline = cmdline, .initrd_gpa = initrd, .initrd_size = isz};
	if (k.fmt == KF_ELF_PVH)
		boot_pvh_start_info(&k, &gm, &in, &e);
	else
		boot_linux_zero_page(&k, &gm, &in, &e);
	return 0;
}

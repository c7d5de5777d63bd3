/* vmm/kvm.c — the stages that talk to /dev/kvm and the VM fd: open, create, irqchip. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "snapshot.h"
#include "vmm.h"

int kvm_open_dev(struct vm *vm)
{
	if (vm->shared) { /* opened and checked once by the batch launcher */
		vm->kvm_fd = vm->shared->kvm_fd;
		vm->run_size = vm->shared->run_size;
		return 0;
	}
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int r = -errno;
		snprintf(vm->reason, sizeof(vm->reason), "/dev/kvm: %s%s", strerror(-r),
		         r == -ENOENT   ? " (is the kvm module loaded?)"
		         : r == -EACCES ? " (add yourself to the kvm group or run as root)"
		                        : "");
		return r;
	}
	int v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(vm->reason, sizeof(vm->reason), "/dev/kvm: API version %d, need %d", v,
		         KVM_API_VERSION);
		return -ENOTSUP;
	}
	/* Capabilities the pipeline relies on. */
	static const struct {
		int cap;
		const char *name;
	} need[] = {
	        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	        {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(need); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			snprintf(vm->reason, sizeof(vm->reason), "/dev/kvm: lacks %s",
			         need[i].name);
			return -ENOTSUP;
		}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run)) {
		snprintf(vm->reason, sizeof(vm->reason), "/dev/kvm: bad vCPU mmap size %d",
		         vm->run_size);
		return -ENOTSUP;
	}
	return 0;
}

void kvm_close_dev(struct vm *vm)
{
	if (vm->kvm_fd >= 0 && !vm->shared)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
}

int kvm_create_vm(struct vm *vm)
{
	int fd;
	do
		fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int r = -errno;
		snprintf(vm->reason, sizeof(vm->reason), "KVM_CREATE_VM: %s", strerror(-r));
		return r;
	}
	vm->vm_fd = fd;
	/* Intel needs three pages for the real-mode TSS; harmless elsewhere. */
	if (ioctl(fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		int r = -errno;
		snprintf(vm->reason, sizeof(vm->reason), "KVM_SET_TSS_ADDR: %s", strerror(-r));
		return r;
	}
	return 0;
}

void kvm_destroy_vm(struct vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
}

/* Runs after the memslots exist: on these hosts a memslot registered after the irqchip
 * costs ~7.6 ms of SRCU grace periods, while this order costs nothing at launch (design §4). */
int kvm_setup_irqchip(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int r = -errno;
		snprintf(vm->reason, sizeof(vm->reason), "KVM_CREATE_IRQCHIP: %s", strerror(-r));
		return r;
	}
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int r = -errno;
		snprintf(vm->reason, sizeof(vm->reason), "KVM_CREATE_PIT2: %s", strerror(-r));
		return r;
	}
	return 0;
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int mem_setup(struct vm *vm)
{
	/* A restore maps the snapshot's RAM file copy-on-write: clones share its pages. */
	int r = vm->cfg->snap ? gm_init_file(&vm->mem, vm->cfg->mem_size, vm->cfg->snap->mem_fd)
	                      : gm_init(&vm->mem, vm->cfg->mem_size);
	if (r < 0) {
		snprintf(vm->reason, sizeof(vm->reason),
		         "--mem: cannot map %llu MiB of guest RAM: %s",
		         (unsigned long long)(vm->cfg->mem_size / MiB), strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct kvm_userspace_memory_region reg = {
		        .slot = i,
		        .guest_phys_addr = vm->mem.region[i].gpa,
		        .memory_size = vm->mem.region[i].size,
		        .userspace_addr = (uint64_t)(uintptr_t)vm->mem.region[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
			r = -errno;
			snprintf(vm->reason, sizeof(vm->reason), "KVM_SET_USER_MEMORY_REGION: %s",
			         strerror(-r));
			return r;
		}
	}
	return 0;
}

void mem_teardown(struct vm *vm)
{
	gm_free(&vm->mem);
}

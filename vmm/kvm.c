/* vmm/kvm.c — the stages that talk to /dev/kvm and the VM fd: open, create, irqchip. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "irqchip.h"
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

const char *irqchip_name(enum irqchip_mode m)
{
	return m == IRQCHIP_SPLIT ? "split" : m == IRQCHIP_KERNEL ? "kernel" : "auto";
}

enum irqchip_mode irqchip_resolve(enum irqchip_mode want, const struct kernel_image *k,
                                  bool tsc_deadline)
{
	if (want != IRQCHIP_AUTO)
		return want;
	/* Linux asks for the PIT only when it cannot use the LAPIC timer without calibrating it
	 * (arch/x86/kernel/apic/apic.c apic_needs_pit(): no TSC-deadline timer); the PVH ABI
	 * has no PIC or PIT at all, so a kernel with a PVH entry copes without them. */
	if (k->is_linux)
		return tsc_deadline ? IRQCHIP_SPLIT : IRQCHIP_KERNEL;
	if (k->fmt == KF_ELF_PVH || k->no_legacy_irq)
		return IRQCHIP_SPLIT;
	return IRQCHIP_KERNEL; /* e.g. Unikraft 0.17: 8259 PIC + PIT one-shot as its timer */
}

static int kvm_signal_msi(void *ctx, uint32_t addr_lo, uint32_t data)
{
	struct vm *vm = ctx;
	struct kvm_msi m = {.address_lo = addr_lo, .data = data};
	return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 0;
}

static int kvm_set_routes(void *ctx, const struct ioapic_route *r, unsigned n)
{
	struct vm *vm = ctx;
	union {
		struct kvm_irq_routing hdr;
		uint8_t bytes[sizeof(struct kvm_irq_routing) +
		              IOAPIC_NUM_PINS * sizeof(struct kvm_irq_routing_entry)];
	} t;
	memset(&t, 0, sizeof(t));
	if (n > IOAPIC_NUM_PINS)
		return -EINVAL;
	t.hdr.nr = n;
	for (unsigned i = 0; i < n; i++) {
		struct kvm_irq_routing_entry *e = &t.hdr.entries[i];
		e->gsi = r[i].gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = r[i].addr_lo;
		e->u.msi.data = r[i].data;
	}
	return ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &t) < 0 ? -errno : 0;
}

static const struct ioapic_ops kvm_ioapic_ops = {kvm_signal_msi, kvm_set_routes};

/* Runs after the memslots exist: on these hosts a memslot registered after the irqchip
 * costs ~7.6 ms of SRCU grace periods, while this order costs nothing at launch (design §4).
 * A split irqchip must exist before the vCPUs (KVM API doc, KVM_CAP_SPLIT_IRQCHIP). */
int kvm_setup_irqchip(struct vm *vm)
{
	vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	vm->irqchip = irqchip_resolve(vm->cfg->irqchip, vm->kernel, vm->tsc_deadline);
	if (vm->irqchip == IRQCHIP_SPLIT) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP,
		                             .args = {IOAPIC_NUM_PINS}};
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			int r = -errno;
			snprintf(vm->reason, sizeof(vm->reason),
			         "--irqchip split: KVM_CAP_SPLIT_IRQCHIP: %s%s", strerror(-r),
			         r == -EINVAL ? " (this KVM lacks it: use --irqchip kernel)" : "");
			return r;
		}
		/* The IOAPIC id follows the CPUs' APIC ids, as the MP table and MADT say. */
		int r = ioapic_init(&vm->ioapic, (uint8_t)vm->cfg->cpus, &kvm_ioapic_ops, vm);
		if (r < 0)
			snprintf(vm->reason, sizeof(vm->reason), "IOAPIC: %s", strerror(-r));
		return r;
	}
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

void kvm_teardown_irqchip(struct vm *vm)
{
	ioapic_destroy(&vm->ioapic); /* the kernel's part goes with the VM fd */
}

int irqchip_devices_init(struct vm *vm)
{
	if (vm->irqchip != IRQCHIP_SPLIT)
		return 0;
	int r = bus_register(&vm->mmio, IOAPIC_ADDR, IOAPIC_MMIO_LEN, ioapic_mmio, &vm->ioapic,
	                     "ioapic");
	return r < 0 ? r : pic_guard_init(&vm->pic, vm);
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	if (vm->irqchip == IRQCHIP_SPLIT) {
		ioapic_set_irq(&vm->ioapic, gsi, level);
		return 0;
	}
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

bool vm_irq_unmasked(struct vm *vm, unsigned gsi)
{
	if (gsi >= IOAPIC_NUM_PINS)
		return false;
	if (vm->irqchip == IRQCHIP_SPLIT)
		return ioapic_pin_unmasked(&vm->ioapic, gsi);
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return false;
	return !chip.chip.ioapic.redirtbl[gsi].fields.mask;
}

int mem_setup(struct vm *vm)
{
	/* A restore maps the snapshot's RAM file copy-on-write: clones share its pages. */
	int r = vm->cfg->snap ? gm_init_file(&vm->mem, vm->cfg->mem_size, vm->cfg->snap->mem_fd)
	        : vm->cfg->hugepages ? gm_init_huge(&vm->mem, vm->cfg->mem_size)
	                             : gm_init(&vm->mem, vm->cfg->mem_size);
	if (r < 0 && vm->cfg->hugepages) {
		snprintf(
		        vm->reason, sizeof(vm->reason),
		        r == -EINVAL ? "--hugepages: --mem must be a multiple of 2 MiB"
		        : r == -ENOMEM
		                ? "--hugepages: no free 2 MiB pages: the hugetlbfs pool "
		                  "(/proc/sys/vm/nr_hugepages) is short and transparent huge pages "
		                  "are off"
		                : "--hugepages: cannot map guest RAM on 2 MiB pages: %s",
		        strerror(-r));
		return r;
	}
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

/* vmm/vcpu.c — vCPU creation (CPUID, MSRs, boot registers) and THE exit-dispatch loop. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpuid_cache.h"
#include "layout.h"
#include "log.h"
#include "sandbox.h"
#include "vmm.h"
#include "x86.h"

#define CPUID_MAX_ENTRIES   CPUID_CACHE_MAX_ENTRIES
#define KVM_CPUID_SIGNATURE 0x40000000
#define KVM_CPUID_TIMING    0x40000010 /* EAX: TSC kHz, EBX: LAPIC bus kHz (VMware leaf) */
#define LAPIC_BUS_KHZ       1000000    /* KVM's LAPIC timer ticks at 1 GHz */

static bool host_is_kvm_pvm(void);

static int set_reason_errno(struct vm *vm, const char *what, unsigned cpu)
{
	int r = -errno;
	snprintf(vm->reason, sizeof(vm->reason), "vCPU %u: %s: %s", cpu, what, strerror(-r));
	return r;
}

struct kvm_cpuid2 *vcpu_supported_cpuid(int kvm_fd)
{
	bool cached;
	return cpuid_supported(kvm_fd, &cached);
}

/* Per-vCPU CPUID: the host's supported set, with this CPU's APIC id, the hypervisor bit, the
 * KVM paravirt leaves kept (kvmclock: OSv needs it) and the TSC frequency leaf added so that
 * guests need not calibrate the TSC against the PIT. */
static void patch_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus, uint32_t tsc_khz,
                        bool tsc_deadline)
{
	bool have_timing = false;
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (ncpus << 16) | (id << 24);
			e->ecx |= 1u << 31; /* hypervisor present */
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the count in EBX[23:16] is valid */
			/* The in-kernel LAPIC emulates the TSC-deadline timer, but KVM leaves the
			 * bit to userspace (KVM_CAP_TSC_DEADLINE_TIMER). With it Linux needs no
			 * PIT (apic_needs_pit()), which a split irqchip does not have. */
			if (tsc_deadline)
				e->ecx |= 1u << 24;
			break;
		case 0xb:
		case 0x1f:
			e->edx = id; /* x2APIC id */
			break;
		case KVM_CPUID_SIGNATURE:
			if (tsc_khz && e->eax < KVM_CPUID_TIMING)
				e->eax = KVM_CPUID_TIMING;
			break;
		case KVM_CPUID_TIMING:
			have_timing = true;
			break;
		}
	}
	if (tsc_khz && !have_timing && c->nent < CPUID_MAX_ENTRIES)
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		        .function = KVM_CPUID_TIMING, .eax = tsc_khz, .ebx = LAPIC_BUS_KHZ};
}

static int set_msrs(struct vcpu *v)
{
	static const uint32_t zero[] = {MSR_IA32_SYSENTER_CS,
	                                MSR_IA32_SYSENTER_ESP,
	                                MSR_IA32_SYSENTER_EIP,
	                                MSR_STAR,
	                                MSR_LSTAR,
	                                MSR_CSTAR,
	                                MSR_SYSCALL_MASK,
	                                MSR_KERNEL_GS_BASE,
	                                MSR_IA32_TSC};
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + 16 * sizeof(struct kvm_msr_entry)];
	} m;
	memset(&m, 0, sizeof(m));
	struct kvm_msr_entry *e = m.hdr.entries;
	unsigned n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(zero); i++)
		e[n++].index = zero[i];
	e[n++] = (struct kvm_msr_entry){.index = MSR_IA32_MISC_ENABLE,
	                                .data = MISC_ENABLE_FAST_STRING};
	/* MTRRs enabled, default type write-back: Linux otherwise maps all RAM uncached. */
	e[n++] = (struct kvm_msr_entry){.index = MSR_MTRR_DEF_TYPE, .data = (1u << 11) | 6};
	m.hdr.nmsrs = n;
	int r = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return set_reason_errno(v->vm, "KVM_SET_MSRS", v->id);
	if ((unsigned)r != n) {
		snprintf(v->vm->reason, sizeof(v->vm->reason),
		         "vCPU %u: KVM_SET_MSRS: MSR 0x%x refused", v->id, e[r].index);
		return -EINVAL;
	}
	return 0;
}

/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as the MP table says. */
static int set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state l;
	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return set_reason_errno(v->vm, "KVM_GET_LAPIC", v->id);
	uint32_t lint0 = le32(&l.regs[0x350]), lint1 = le32(&l.regs[0x360]);
	put_le32(&l.regs[0x350], (lint0 & ~0x700u) | 0x700); /* ExtINT */
	put_le32(&l.regs[0x360], (lint1 & ~0x700u) | 0x400); /* NMI */
	if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
		return set_reason_errno(v->vm, "KVM_SET_LAPIC", v->id);
	return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool code64, bool db)
{
	return (struct kvm_segment){.base = 0,
	                            .limit = 0xffffffff,
	                            .selector = sel,
	                            .type = type,
	                            .present = 1,
	                            .s = 1,
	                            .l = code64,
	                            .db = db,
	                            .g = 1};
}

/* The boot CPU's registers: 64-bit long mode for the Linux protocol and own guests, 32-bit
 * protected mode with paging off for PVH. */
static int set_boot_regs(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return set_reason_errno(vm, "KVM_GET_SREGS", v->id);
	bool pvh = vm->kernel->fmt == KF_ELF_PVH;
	struct kvm_segment data = seg(SEL_DATA, 3, false, true);
	s.cs = pvh ? seg(SEL_CODE32, 0xb, false, true) : seg(SEL_CODE64, 0xb, true, false);
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = (struct kvm_segment){.selector = SEL_TSS, .limit = 0x67, .type = 11, .present = 1};
	s.gdt.base = GDT_ADDR;
	s.gdt.limit = GDT_ENTRIES * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	if (pvh) {
		s.cr0 = CR0_PE | CR0_ET;
		s.cr4 = 0;
		s.efer = 0;
		s.cr3 = 0;
	} else {
		s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
		s.cr3 = PML4_ADDR;
		s.cr4 = CR4_PAE;
		s.efer = EFER_LME | EFER_LMA | EFER_SCE;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return set_reason_errno(vm, "KVM_SET_SREGS", v->id);

	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return set_reason_errno(vm, "KVM_SET_FPU", v->id);

	struct kvm_regs r = {.rflags = 2, .rsp = BOOT_STACK_TOP, .rbp = BOOT_STACK_TOP};
	if (pvh) {
		r.rip = vm->kernel->pvh_entry;
		r.rbx = PVH_INFO_ADDR;
	} else {
		r.rip = vm->kernel->entry;
		r.rsi = ZERO_PAGE_ADDR;
	}
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return set_reason_errno(vm, "KVM_SET_REGS", v->id);
	return 0;
}

int vcpu_open(struct vm *vm, unsigned i)
{
	struct vcpu *v = &vm->vcpu[i];
	v->vm = vm;
	v->id = i;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
	if (v->fd < 0)
		return set_reason_errno(vm, "KVM_CREATE_VCPU", i);
	vm->nr_vcpus++;
	v->run_size = (size_t)vm->run_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return set_reason_errno(vm, "mmap(kvm_run)", i);
	}
	return 0;
}

int vcpus_create(struct vm *vm)
{
	/* The supported set is the same for every VM: a batch launcher asks once. */
	bool own = !(vm->shared && vm->shared->cpuid);
	host_is_kvm_pvm();
	bool cached = false;
	struct kvm_cpuid2 *cpuid = own ? cpuid_supported(vm->kvm_fd, &cached) : vm->shared->cpuid;
	vm->cpuid_cached = cached;
	if (!cpuid)
		return set_reason_errno(vm, "KVM_GET_SUPPORTED_CPUID", 0);
	size_t cpuid_size = sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]);
	struct kvm_cpuid2 *mine = malloc(cpuid_size);
	int r = mine ? 0 : -ENOMEM;
	for (unsigned i = 0; r == 0 && i < vm->cfg->cpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		r = vcpu_open(vm, i);
		if (r < 0)
			break;
		int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
		memcpy(mine, cpuid, cpuid_size);
		patch_cpuid(mine, i, vm->cfg->cpus, khz > 0 ? (uint32_t)khz : 0, vm->tsc_deadline);
		if (ioctl(v->fd, KVM_SET_CPUID2, mine) < 0) {
			r = set_reason_errno(vm, "KVM_SET_CPUID2", i);
			break;
		}
		r = set_msrs(v);
		if (!r)
			r = set_lapic(v);
		/* Application processors wait for INIT/SIPI from the guest in the in-kernel LAPIC.
		 */
		if (!r && i == 0)
			r = set_boot_regs(v);
	}
	free(mine);
	if (own)
		free(cpuid);
	return r;
}

void vcpus_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		if (v->run)
			munmap(v->run, v->run_size);
		if (v->fd >= 0)
			close(v->fd);
		v->run = NULL;
		v->fd = -1;
	}
	vm->nr_vcpus = 0;
}

/* ---- diagnosis of a guest that KVM cannot run ---- */

static uint64_t linear_rip(struct vcpu *v, uint64_t *rip)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	*rip = 0;
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
		return 0;
	*rip = r.rip;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return r.rip;
	return s.cs.l ? r.rip : s.cs.base + r.rip;
}

/* Up to 15 instruction bytes at the guest's RIP, as hex, via the guest's own page tables. */
static void insn_bytes(struct vcpu *v, uint64_t lin, char *out, size_t outlen)
{
	out[0] = 0;
	struct kvm_translation t = {.linear_address = lin};
	if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
		return;
	size_t n = 0;
	for (unsigned i = 0; i < 15 && n + 4 < outlen; i++) {
		const uint8_t *p = gm_ptr(&v->vm->mem, t.physical_address + i, 1);
		if (!p)
			break;
		n += (size_t)snprintf(out + n, outlen - n, "%s%02x", i ? " " : "", *p);
	}
}

/* Asked at vCPU creation: a confined vCPU thread may not look at files (vmm/sandbox.c). */
static int kvm_pvm = -1;
static bool host_is_kvm_pvm(void)
{
	if (kvm_pvm < 0)
		kvm_pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	return kvm_pvm;
}

static void internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t rip;
	uint64_t lin = linear_rip(v, &rip);
	char bytes[64];
	insn_bytes(v, lin, bytes, sizeof(bytes));
	uint32_t sub = run->internal.suberror;
	if (sub == KVM_INTERNAL_ERROR_EMULATION)
		vm_stop(v->vm, VM_INTERNAL, 0,
		        "guest stopped: KVM could not emulate the instruction at rip 0x%llx "
		        "(bytes: %s)%s",
		        (unsigned long long)rip, bytes[0] ? bytes : "unreadable",
		        host_is_kvm_pvm()
		                ? "; this host's /dev/kvm is kvm-pvm, whose emulator lacks SSE "
		                  "moves, "
		                  "ldmxcsr, xgetbv, xsave/xrstor, cmpxchg16b and int3: boot real "
		                  "guests in the nested harness (make test-nested)"
		                : "");
	else
		vm_stop(v->vm, VM_INTERNAL, 0,
		        "guest stopped: KVM internal error (suberror %u) at rip 0x%llx (bytes: %s)",
		        sub, (unsigned long long)rip, bytes[0] ? bytes : "unreadable");
}

/* ---- the one exit-dispatch loop ---- */

static void handle_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	/* KVM fills these, but a bad value must not walk us off the shared page. */
	if ((size != 1 && size != 2 && size != 4) || off > v->run_size ||
	    (uint64_t)size * count > v->run_size - off) {
		vm_stop(v->vm, VM_INTERNAL, 0, "bad port I/O exit (size %u, count %u)", size,
		        count);
		return;
	}
	uint8_t *data = (uint8_t *)run + off;
	bool wr = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < count; i++, data += size)
		bus_access(&v->vm->pio, run->io.port, data, size, wr);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		vm_stop(v->vm, VM_INTERNAL, 0, "bad MMIO exit (len %u)", len);
		return;
	}
	bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
}

/* Serve the exit KVM_RUN just returned with. */
static void vcpu_exit(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_pio(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_IOAPIC_EOI: /* split irqchip: EOI of a level-triggered vector */
		ioapic_eoi(&vm->ioapic, run->eoi.vector);
		break;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; nothing can wake this CPU. */
		vm_stop(vm, VM_SHUTDOWN, 0, "vCPU %u halted with nothing to wake it", v->id);
		break;
	case KVM_EXIT_SHUTDOWN: {
		uint64_t rip;
		linear_rip(v, &rip);
		vm_stop(vm, VM_CRASHED, 0, "guest crashed: triple fault on vCPU %u at rip 0x%llx",
		        v->id, (unsigned long long)rip);
		break;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			vm_stop(vm, VM_CRASHED, 0, "guest reported a crash (system event)");
		else
			vm_stop(vm, VM_SHUTDOWN, 0, "guest shut down (system event %u)",
			        run->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_error(v);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vm_stop(vm, VM_INTERNAL, 0, "vCPU %u: VM entry failed (hardware reason 0x%llx)",
		        v->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	default:
		vm_stop(vm, VM_INTERNAL, 0, "vCPU %u: unhandled KVM exit reason %u", v->id,
		        run->exit_reason);
		break;
	}
}

/* Pause protocol (snapshots). A parked vCPU has no exit half-done: KVM completes a pending
 * port/MMIO read or string I/O only on the next KVM_RUN, so one KVM_RUN with immediate_exit
 * set finishes it and returns at once (Documentation/virt/kvm/api.rst, immediate_exit). The
 * last vCPU to park runs the pause's function while the others wait. */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	v->run->immediate_exit = 1;
	while (ioctl(v->fd, KVM_RUN, 0) == 0) /* the completion made a new exit: serve it */
		vcpu_exit(v);
	v->run->immediate_exit = 0;
	pthread_mutex_lock(&vm->pause.lock);
	uint64_t gen = vm->pause.gen;
	if (++vm->pause.parked == vm->nr_vcpus) {
		if (!atomic_load(&vm->stopping) && vm->pause.on_paused)
			vm->pause.on_paused(vm);
		vm->pause.parked = 0;
		vm->pause.on_paused = NULL;
		vm->pause.gen++;
		atomic_store(&vm->pause.req, false);
		pthread_cond_broadcast(&vm->pause.cond);
	} else {
		while (vm->pause.gen == gen && !atomic_load(&vm->stopping)) {
			/* A stop's kick broadcasts without the lock: wait in slices. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&vm->pause.cond, &vm->pause.lock, &ts);
		}
		if (vm->pause.gen == gen)
			vm->pause.parked--; /* stopping: leave */
	}
	pthread_mutex_unlock(&vm->pause.lock);
}

void vcpus_pause(struct vm *vm, void (*fn)(struct vm *vm))
{
	pthread_mutex_lock(&vm->pause.lock);
	bool busy = atomic_load(&vm->pause.req);
	if (!busy) {
		vm->pause.on_paused = fn;
		atomic_store(&vm->pause.req, true);
	}
	pthread_mutex_unlock(&vm->pause.lock);
	if (!busy)
		vcpus_kick(vm);
}

static void vcpu_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;
	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->pause.req)) {
			vcpu_park(v);
			continue;
		}
		if (v->id == 0)
			vm_mark(vm, ST_FIRST_RUN);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue; /* a kick: the loop condition decides */
			vm_stop(vm, VM_FAILED, 0, "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
			break;
		}
		atomic_fetch_add_explicit(&vm->exits, 1, memory_order_relaxed);
		vcpu_exit(v);
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	int r = sandbox_apply(SANDBOX_VCPU); /* stacked on the inherited SANDBOX_VMM filter */
	if (r < 0) {
		vm_stop(v->vm, VM_FAILED, 0, "vCPU %u: sandbox: %s", v->id, strerror(-r));
		return NULL;
	}
	sandbox_selftest(SANDBOX_VCPU);
	vcpu_loop(v);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

/* Make every vCPU leave KVM_RUN: immediate_exit covers a vCPU about to enter, the signal one
 * already inside. */
void vcpus_kick(struct vm *vm)
{
	pthread_cond_broadcast(&vm->pause.cond); /* parked vCPUs re-check `stopping` */
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		if (v->run)
			v->run->immediate_exit = 1;
		/* The caller's own vCPU sees the stop flag when its handler returns. */
		if (__atomic_load_n(&v->thread_started, __ATOMIC_ACQUIRE) &&
		    !pthread_equal(v->thread, pthread_self()))
			pthread_kill(v->thread, SIGUSR1);
	}
}

/* vCPU 0 runs on the calling thread (no thread start on the launch path); the others get
 * threads. Returns when the VM has stopped and every vCPU thread is joined. */
int vcpus_run(struct vm *vm)
{
	struct sigaction sa = {.sa_handler = kick_handler}; /* no SA_RESTART: KVM_RUN → EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* vcpu 0's thread id must be known before anyone can kick it. */
	vm->vcpu[0].thread = pthread_self();
	__atomic_store_n(&vm->vcpu[0].thread_started, true, __ATOMIC_RELEASE);
	unsigned started = 1;
	for (unsigned i = 1; i < vm->nr_vcpus; i++, started++) {
		struct vcpu *v = &vm->vcpu[i];
		int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r) {
			vm_stop(vm, VM_FAILED, 0, "vCPU %u: pthread_create: %s", i, strerror(r));
			break;
		}
		__atomic_store_n(&v->thread_started, true, __ATOMIC_RELEASE);
	}
	/* A stop that raced with thread creation must still reach the new threads. */
	if (atomic_load(&vm->stopping))
		vcpus_kick(vm);
	vcpu_loop(&vm->vcpu[0]);
	/* Kicks run under stop_lock (vm_stop()): once we hold it no kick is under way, and none
	 * starts after the flags are cleared, so no thread is signalled after its join. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		__atomic_store_n(&vm->vcpu[i].thread_started, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->stop_lock);
	for (unsigned i = 1; i < started; i++)
		pthread_join(vm->vcpu[i].thread, NULL);
	return 0;
}

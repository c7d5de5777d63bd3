/* tests/bench/kvm_options.c — what each way of arranging a VM's KVM setup costs on this host:
 * the irqchip before or after the memslots, a split irqchip, none; teardown in-process; and
 * for a batch of N, fork-per-VM versus a pool of pre-forked processes that have already
 * built their VM and wait on a pipe. A bare-KVM measurement (no fastvmm code), so that the
 * pipeline's choices rest on numbers. Guest: real mode, `out 0x10, al; hlt`.
 *
 * usage: kvm_options [REPS] [N] — prints one line per measurement. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEM (128u << 20)

enum order {
	MEM_THEN_IRQCHIP,
	MEM_THEN_IRQCHIP_NOPIT,
	IRQCHIP_THEN_MEM,
	SPLIT_IRQCHIP,
	NO_IRQCHIP,
	NORDER
};
static const char *const order_name[NORDER] = {"memslot, then irqchip+PIT", "memslot, then irqchip",
                                               "irqchip+PIT, then memslot",
                                               "split irqchip, memslot", "no irqchip"};

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "kvm_options: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct vmx {
	int vm, vcpu;
	void *mem;
	struct kvm_run *run;
	int run_size;
};

static void irqchip(int vm, enum order o)
{
	if (o == SPLIT_IRQCHIP) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
		if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_ENABLE_CAP(SPLIT_IRQCHIP)");
		return;
	}
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	if (o == MEM_THEN_IRQCHIP_NOPIT)
		return;
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
		die("KVM_CREATE_PIT2");
}

static void memslot(struct vmx *v)
{
	v->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->mem == MAP_FAILED)
		die("mmap");
	static const uint8_t code[] = {0xb0, 0x00, 0xe6, 0x10,
	                               0xf4}; /* mov al,0; out 0x10,al; hlt */
	memcpy(v->mem, code, sizeof(code));
	struct kvm_userspace_memory_region r = {
	        .slot = 0, .memory_size = MEM, .userspace_addr = (uint64_t)(uintptr_t)v->mem};
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
}

/* Build a VM; t[] receives the cost of create, memslot, irqchip, vcpu (ns). */
static void build(int kvm, struct vmx *v, enum order o, uint64_t t[4])
{
	uint64_t a = now();
	v->vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		die("KVM_CREATE_VM");
	ioctl(v->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	uint64_t b = now(), c, d;
	if (o == IRQCHIP_THEN_MEM || o == SPLIT_IRQCHIP) {
		irqchip(v->vm, o);
		c = now();
		memslot(v);
		d = now();
		t[2] = c - b;
		t[1] = d - c;
	} else {
		memslot(v);
		c = now();
		if (o == MEM_THEN_IRQCHIP || o == MEM_THEN_IRQCHIP_NOPIT)
			irqchip(v->vm, o);
		d = now();
		t[1] = c - b;
		t[2] = d - c;
	}
	t[0] = b - a;
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		die("KVM_CREATE_VCPU");
	v->run = mmap(NULL, (size_t)v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		die("mmap(kvm_run)");
	struct kvm_sregs s;
	ioctl(v->vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(v->vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs r = {.rip = 0, .rflags = 2};
	ioctl(v->vcpu, KVM_SET_REGS, &r);
	t[3] = now() - d;
}

static void run_to_out(struct vmx *v)
{
	if (ioctl(v->vcpu, KVM_RUN, 0) < 0)
		die("KVM_RUN");
	if (v->run->exit_reason != KVM_EXIT_IO)
		fprintf(stderr, "kvm_options: unexpected exit %u\n", v->run->exit_reason);
}

static void teardown(struct vmx *v)
{
	munmap(v->run, (size_t)v->run_size);
	close(v->vcpu);
	close(v->vm);
	munmap(v->mem, MEM);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double med_us(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return (double)v[n / 2] / 1000.0;
}

/* In one process, REPS times: build, run to the first exit, tear down. */
static void in_process(int kvm, int run_size, enum order o, int reps)
{
	uint64_t *t[6];
	for (int k = 0; k < 6; k++)
		t[k] = calloc((size_t)reps, sizeof(uint64_t));
	for (int i = 0; i < reps; i++) {
		struct vmx v = {.run_size = run_size};
		uint64_t s[4];
		build(kvm, &v, o, s);
		uint64_t a = now();
		run_to_out(&v);
		uint64_t b = now();
		teardown(&v);
		uint64_t c = now();
		for (int k = 0; k < 4; k++)
			t[k][i] = s[k];
		t[4][i] = b - a;
		t[5][i] = c - b;
	}
	printf("in-process x%d  %-26s  create %7.1f  memslot %7.1f  irqchip %7.1f  vcpu %6.1f  "
	       "first exit %6.1f  teardown %8.1f us (medians)\n",
	       reps, order_name[o], med_us(t[0], reps), med_us(t[1], reps), med_us(t[2], reps),
	       med_us(t[3], reps), med_us(t[4], reps), med_us(t[5], reps));
	for (int k = 0; k < 6; k++)
		free(t[k]);
}

/* N processes; each builds a VM and runs to the first exit, reports on a pipe and exits
 * (teardown in the kernel). pool: the processes build their VMs first and wait for a go byte;
 * time counts from "go". Returns ns from start to the last first-exit, and to all reaped. */
static void batch(int kvm, int run_size, enum order o, int n, int pool)
{
	int done[2], go[2];
	if (pipe(done) < 0 || pipe(go) < 0)
		die("pipe");
	uint64_t t0 = now();
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			struct vmx v = {.run_size = run_size};
			uint64_t s[4];
			char c;
			if (pool) {
				build(kvm, &v, o, s);
				if (write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
					_exit(1);
			} else {
				build(kvm, &v, o, s);
			}
			run_to_out(&v);
			if (write(done[1], "x", 1) != 1)
				_exit(1);
			_exit(0);
		}
	}
	char c;
	uint64_t ready = 0;
	if (pool) {
		for (int i = 0; i < n; i++)
			if (read(done[0], &c, 1) != 1)
				die("read");
		ready = now() - t0;
		t0 = now();
		for (int i = 0; i < n; i++)
			if (write(go[1], "g", 1) != 1)
				die("write");
	}
	for (int i = 0; i < n; i++)
		if (read(done[0], &c, 1) != 1)
			die("read");
	uint64_t last = now() - t0;
	while (wait(NULL) > 0)
		;
	uint64_t reaped = now() - t0;
	if (pool)
		printf("pool of %d      %-26s  building the pool %7.2f ms; go -> last first exit "
		       "%6.2f ms; all reaped %7.2f ms\n",
		       n, order_name[o], (double)ready / 1e6, (double)last / 1e6,
		       (double)reaped / 1e6);
	else
		printf("fork-per-VM %-3d %-26s  start -> last first exit %6.2f ms; all reaped "
		       "%7.2f "
		       "ms\n",
		       n, order_name[o], (double)last / 1e6, (double)reaped / 1e6);
	close(done[0]);
	close(done[1]);
	close(go[0]);
	close(go[1]);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 30, n = argc > 2 ? atoi(argv[2]) : 30;
	if (reps < 1 || n < 1) {
		fprintf(stderr, "usage: kvm_options [REPS] [N]\n");
		return 2;
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t a = now();
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(c->entries[0]));
	c->nent = 256;
	ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c);
	printf("KVM_GET_SUPPORTED_CPUID: %.1f us (once per launcher in batch mode)\n",
	       (double)(now() - a) / 1000.0);
	free(c);
	for (int o = 0; o < NORDER; o++)
		in_process(kvm, run_size, (enum order)o, reps);
	for (int o = 0; o < NORDER; o++)
		batch(kvm, run_size, (enum order)o, n, 0);
	batch(kvm, run_size, MEM_THEN_IRQCHIP, n, 1);
	batch(kvm, run_size, NO_IRQCHIP, n, 1);
	return 0;
}

/* vmm/snapshot.c — taking a snapshot of a running VM, and the restore stages that build a VM
 * from one (include/snapshot.h, docs/snapshot.md).
 *
 * Taking: every vCPU parks with no exit half-served (vcpus_pause()); the virtio devices are
 * locked with nothing in flight, so neither the I/O thread nor a vCPU changes guest RAM or a
 * device while it is saved; the state is read out of KVM and the devices; RAM is written
 * sparse (only pages that were ever touched and are not zero). Files appear atomically: the
 * old DIR/state goes first, DIR/memory is renamed into place, DIR/state last (a directory with
 * a state file is a complete snapshot). Nothing is changed in the VM, whatever fails.
 *
 * Restoring: RAM is the snapshot's file mapped MAP_PRIVATE (gm_init_file), so clones share the
 * page cache's copy of every page none of them has written; the rest is KVM_SET_* in the order
 * KVM needs (CPUID before MSRs, the clock last). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "config.h"
#include "layout.h"
#include "log.h"
#include "sandbox.h"
#include "snapshot.h"
#include "virtio.h"
#include "vmm.h"

#define PAGE 4096ULL

static void set_reason(struct vm *vm, const char *fmt, ...) PRINTF(2, 3);
static void set_reason(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
}

/* ---- --snapshot-at ---- */

int snapshot_parse_at(const char *s, struct snapshot_request *r, struct err *e)
{
	if (!strcmp(s, "ready")) {
		r->at = SNAP_AT_READY;
	} else if (!strcmp(s, "exit-port") || !strcmp(s, "port")) {
		r->at = SNAP_AT_PORT;
	} else if (!strncmp(s, "line:", 5) && s[5]) {
		regex_t re;
		if (regcomp(&re, s + 5, REG_EXTENDED | REG_NOSUB))
			return err_set(e, -EINVAL, "--snapshot-at: '%s' is not a valid regex",
			               s + 5);
		regfree(&re);
		r->at = SNAP_AT_LINE;
		r->pattern = s + 5;
	} else if (parse_seconds(s, &r->after_ms) == 0) {
		r->at = SNAP_AT_SECONDS;
	} else {
		return err_set(e, -EINVAL,
		               "--snapshot-at: '%s' is not ready, exit-port, line:REGEX or a "
		               "number of seconds",
		               s);
	}
	return 0;
}

/* ---- taking ---- */

static int fail(char *msg, size_t len, int r, const char *fmt, ...) PRINTF(4, 5);
static int fail(char *msg, size_t len, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return r;
}

/* The MSRs KVM says a VMM should save (KVM_GET_MSR_INDEX_LIST: msrs_to_save and the emulated
 * ones, kvmclock's among them), filtered to those this vCPU can read. */
static int save_msrs(struct vm *vm, struct vcpu *v, struct snap_vcpu *sv, char *msg, size_t ml)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return fail(msg, ml, -errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	uint32_t n = probe.nmsrs > SNAP_MSRS_MAX ? SNAP_MSRS_MAX : probe.nmsrs;
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + (probe.nmsrs + 1) * 4);
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (n + 1) * sizeof(struct kvm_msr_entry));
	if (!list || !m) {
		free(list);
		free(m);
		return fail(msg, ml, -ENOMEM, "out of memory");
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int r = -errno;
		free(list);
		free(m);
		return fail(msg, ml, r, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
	}
	for (uint32_t i = 0; i < n; i++)
		m->entries[i].index = list->indices[i];
	m->nmsrs = n;
	free(list);
	/* KVM_GET_MSRS stops at the first MSR it cannot read: drop that one and go on. */
	uint32_t done = 0;
	while (done < m->nmsrs) {
		struct kvm_msrs *part =
		        (struct kvm_msrs *)((uint8_t *)m + done * sizeof(struct kvm_msr_entry));
		/* `part` overlays entries[done..]: shift a header in front of them. */
		struct kvm_msrs hdr_save = *part;
		part->nmsrs = m->nmsrs - done;
		part->pad = 0;
		int r = ioctl(v->fd, KVM_GET_MSRS, part);
		*part = hdr_save;
		if (r < 0) {
			int e = -errno;
			free(m);
			return fail(msg, ml, e, "vCPU %u: KVM_GET_MSRS: %s", v->id, strerror(-e));
		}
		done += (uint32_t)r;
		if (done < m->nmsrs) {
			memmove(&m->entries[done], &m->entries[done + 1],
			        (m->nmsrs - done - 1) * sizeof(struct kvm_msr_entry));
			m->nmsrs--;
		}
	}
	sv->nmsrs = m->nmsrs;
	sv->msrs = calloc(m->nmsrs ? m->nmsrs : 1, sizeof(*sv->msrs));
	if (!sv->msrs) {
		free(m);
		return fail(msg, ml, -ENOMEM, "out of memory");
	}
	memcpy(sv->msrs, m->entries, m->nmsrs * sizeof(*sv->msrs));
	free(m);
	return 0;
}

#define VCPU_GET(req, ptr)                                                                         \
	do {                                                                                       \
		if (ioctl(v->fd, req, ptr) < 0)                                                    \
			return fail(msg, ml, -errno, "vCPU %u: " #req ": %s", v->id,               \
			            strerror(errno));                                              \
	} while (0)

static int save_vcpu(struct vm *vm, struct vcpu *v, struct snap_vcpu *sv, char *msg, size_t ml)
{
	VCPU_GET(KVM_GET_MP_STATE, &sv->mp);
	VCPU_GET(KVM_GET_REGS, &sv->regs);
	VCPU_GET(KVM_GET_SREGS, &sv->sregs);
	VCPU_GET(KVM_GET_FPU, &sv->fpu);
	int xs2 = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	int xs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE);
	if (xs2 > 0 || xs > 0) {
		size_t len = xs2 > (int)sizeof(struct kvm_xsave) ? (size_t)xs2
		                                                 : sizeof(struct kvm_xsave);
		if (len > SNAP_XSAVE_MAX)
			return fail(msg, ml, -E2BIG, "vCPU %u: XSAVE state of %zu bytes", v->id,
			            len);
		sv->xsave = calloc(1, len);
		if (!sv->xsave)
			return fail(msg, ml, -ENOMEM, "out of memory");
		sv->xsave_len = (uint32_t)len;
		if (xs2 > 0)
			VCPU_GET(KVM_GET_XSAVE2, sv->xsave);
		else
			VCPU_GET(KVM_GET_XSAVE, sv->xsave);
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		VCPU_GET(KVM_GET_XCRS, &sv->xcrs);
		sv->have_xcrs = true;
	}
	VCPU_GET(KVM_GET_DEBUGREGS, &sv->dregs);
	VCPU_GET(KVM_GET_LAPIC, &sv->lapic);
	int r = save_msrs(vm, v, sv, msg, ml);
	if (r < 0)
		return r;
	VCPU_GET(KVM_GET_VCPU_EVENTS, &sv->events);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + SNAP_CPUID_MAX * sizeof(c->entries[0]));
	if (!c)
		return fail(msg, ml, -ENOMEM, "out of memory");
	c->nent = SNAP_CPUID_MAX;
	if (ioctl(v->fd, KVM_GET_CPUID2, c) < 0 || !c->nent) {
		r = -errno;
		free(c);
		return fail(msg, ml, r ? r : -EINVAL, "vCPU %u: KVM_GET_CPUID2: %s", v->id,
		            strerror(-r));
	}
	sv->ncpuid = c->nent;
	sv->cpuid = calloc(c->nent, sizeof(*sv->cpuid));
	if (sv->cpuid)
		memcpy(sv->cpuid, c->entries, c->nent * sizeof(*sv->cpuid));
	free(c);
	return sv->cpuid ? 0 : fail(msg, ml, -ENOMEM, "out of memory");
}

int irqchip_save(struct vm *vm, struct snapshot *s)
{
	if (vm->irqchip == IRQCHIP_SPLIT) { /* the LAPICs are saved per vCPU */
		s->irqchip = SNAP_IRQCHIP_SPLIT;
		ioapic_save(&vm->ioapic, &s->uioapic);
		pic_guard_save(&vm->pic, &s->uioapic);
		return 0;
	}
	s->irqchip = SNAP_IRQCHIP_KERNEL;
	s->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic[0]) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic[1]) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return -errno;
	return 0;
}

int irqchip_restore(struct vm *vm, const struct snapshot *s)
{
	bool split = vm->irqchip == IRQCHIP_SPLIT;
	if (s->irqchip != (split ? SNAP_IRQCHIP_SPLIT : SNAP_IRQCHIP_KERNEL)) {
		set_reason(vm, "%s/state: taken with the %s irqchip; this VM has the %s one",
		           s->dir, split ? "in-kernel" : "split", split ? "split" : "in-kernel");
		return -EINVAL;
	}
	if (split) { /* the 8259 guard's part is restored with the devices */
		int r = ioapic_restore(&vm->ioapic, &s->uioapic);
		if (r < 0)
			set_reason(vm, "%s/state: IOAPIC routes: KVM_SET_GSI_ROUTING failed",
			           s->dir);
		return r;
	}
	struct kvm_irqchip c[3] = {s->pic[0], s->pic[1], s->ioapic};
	c[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
	c[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	c[2].chip_id = KVM_IRQCHIP_IOAPIC;
	for (int i = 0; i < 3; i++)
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c[i]) < 0) {
			int r = -errno;
			set_reason(vm, "%s/state: KVM_SET_IRQCHIP: %s", s->dir, strerror(-r));
			return r;
		}
	struct kvm_pit_state2 pit = s->pit;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
		int r = -errno;
		set_reason(vm, "%s/state: KVM_SET_PIT2: %s", s->dir, strerror(-r));
		return r;
	}
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

static bool in_file_range(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nfile; i++)
		if (gpa >= gm->file[i].gpa && gpa - gm->file[i].gpa < gm->file[i].len)
			return true;
	return false;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* RAM, flat, sparse: a page is written only if the guest (or the loader) ever touched it — the
 * page table says present or swapped (/proc/self/pagemap bits 63, 62), or it lies in a range
 * mapped from a file — and it is not all zeros. Runs of such pages go in one pwrite. */
/* Opened by snapshot_check_dir() during setup, before the seccomp filter: the save then needs
 * no path lookups, only *at calls on this directory fd (vmm/sandbox.c allows exactly those). */
static int snap_dirfd = -1, snap_pagemap = -1;

static int write_memory(struct vm *vm, int fd, bool sized, uint64_t *written)
{
	const struct guest_mem *gm = &vm->mem;
	/* A front end's file comes sized (its sandbox has no ftruncate): checked, never fixed. */
	struct stat st;
	if (sized && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != gm->ram_size))
		return -EMSGSIZE;
	if (!sized && ftruncate(fd, (off_t)gm->ram_size) < 0)
		return -errno;
	/* pread() at offsets: the shared descriptor needs no dup of its own. */
	int pm = snap_pagemap, own_pm = -1;
	if (pm < 0)
		pm = own_pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t file_off = 0;
	*written = 0;
	for (unsigned ri = 0; ri < gm->nr; ri++) {
		const struct gm_region *reg = &gm->region[ri];
		uint64_t pages = reg->size / PAGE;
		const uint8_t *host = gm_ptr(gm, reg->gpa, reg->size);
		uint64_t ent[512];
		uint64_t run_start = 0, run_len = 0;
		for (uint64_t pg = 0; pg < pages; pg += 512) {
			uint64_t n = pages - pg < 512 ? pages - pg : 512;
			bool have = pm >= 0 && pread(pm, ent, n * 8,
			                             (off_t)(((uintptr_t)host / PAGE + pg) * 8)) ==
			                               (ssize_t)(n * 8);
			for (uint64_t i = 0; i <= n; i++) {
				bool want = false;
				if (i < n) {
					uint64_t gpa = reg->gpa + (pg + i) * PAGE;
					bool touched =
					        !have || (ent[i] >> 62) || in_file_range(gm, gpa);
					want = touched && !page_zero(host + (pg + i) * PAGE);
				}
				if (want) {
					if (!run_len)
						run_start = pg + i;
					run_len++;
					continue;
				}
				if (!run_len || (i == n && pg + n < pages))
					continue; /* a run may go on into the next chunk */
				int r = pwrite_all(fd, host + run_start * PAGE, run_len * PAGE,
				                   (off_t)(file_off + run_start * PAGE));
				if (r < 0) {
					if (own_pm >= 0)
						close(own_pm);
					return r;
				}
				*written += run_len * PAGE;
				run_len = 0;
			}
		}
		file_off += reg->size;
	}
	if (own_pm >= 0)
		close(own_pm);
	return fdatasync(fd) < 0 ? -errno : 0;
}

void snapshot_use_pagemap(int fd)
{
	if (snap_pagemap < 0)
		snap_pagemap = fd;
}

static int write_file(int dfd, const char *dir, const char *name, char *path, size_t plen)
{
	snprintf(path, plen, "%s/%s.tmp", dir, name);
	char rel[32];
	snprintf(rel, sizeof(rel), "%s.tmp", name);
	return openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* Lock every virtio device with no request in flight (the I/O thread finishes what the guest
 * queued before the pause; nothing new can arrive). */
static int devices_quiesce(struct vm *vm, char *msg, size_t ml)
{
	struct vm_virtio *vv = vm->virtio;
	if (!vv)
		return 0;
	for (int tries = 0; tries < 25000; tries++) {
		for (unsigned i = 0; i < vv->ndev; i++)
			pthread_mutex_lock(&vv->dev[i]->lock);
		unsigned busy = 0;
		for (unsigned i = 0; i < vv->nblk; i++)
			busy += virtio_blk_inflight(vv->blk[i]);
		if (!busy)
			return 0;
		for (unsigned i = vv->ndev; i-- > 0;)
			pthread_mutex_unlock(&vv->dev[i]->lock);
		usleep(200);
	}
	return fail(msg, ml, -EBUSY, "disk requests still in flight after 5 s");
}

static void devices_release(struct vm *vm)
{
	struct vm_virtio *vv = vm->virtio;
	for (unsigned i = vv ? vv->ndev : 0; i-- > 0;)
		pthread_mutex_unlock(&vv->dev[i]->lock);
}

static int fill_state(struct vm *vm, struct snapshot *s, char *msg, size_t ml)
{
	const struct vm_config *cfg = vm->cfg;
	s->version = SNAP_VERSION;
	snprintf(s->kernel, sizeof(s->kernel), "%s", vm->kernel ? vm->kernel->name : "");
	s->kernel_fmt = vm->kernel ? (uint32_t)vm->kernel->fmt : 0;
	s->is_linux = vm->kernel && vm->kernel->is_linux;
	s->cmdline = (char *)(uintptr_t)(cfg->cmdline ? cfg->cmdline : "");
	s->mem_size = cfg->mem_size;
	s->cpus = vm->nr_vcpus;
	s->discovery = cfg->discovery;
	if (vm->kernel) {
		enum virtio_discovery d = virtio_discovery_resolve(cfg->discovery, vm->kernel);
		s->acpi = d == DISCOVERY_ACPI || d == DISCOVERY_BOTH;
	}
	s->ndisks = cfg->ndisks;
	s->nnets = cfg->nnets;
	s->t_snapshot_ns = now_ns() - vm->t0;
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		struct stat st;
		snprintf(s->disk[i].path, sizeof(s->disk[i].path), "%s", cfg->disk[i].path);
		s->disk[i].ro = cfg->disk[i].ro;
		s->disk[i].cow = cfg->disk[i].cow;
		s->disk[i].size = stat(cfg->disk[i].path, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	for (unsigned i = 0; i < cfg->nnets; i++)
		snprintf(s->net[i].tap, sizeof(s->net[i].tap), "%s",
		         cfg->net[i].tap ? cfg->net[i].tap : "");
	int r = irqchip_save(vm, s);
	if (r < 0)
		return fail(msg, ml, r, "irqchip state: %s", strerror(-r));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return fail(msg, ml, -errno, "KVM_GET_CLOCK: %s", strerror(errno));
	serial_save(&vm->serial, &s->serial);
	rtc_save(&vm->rtc, &s->rtc);
	i8042_save(&vm->i8042, &s->i8042);
	if (vm->virtio) {
		s->ndev = vm->virtio->ndev;
		for (unsigned i = 0; i < s->ndev; i++)
			virtio_mmio_save(vm->virtio->dev[i], &s->dev[i]);
		for (unsigned i = 0; i < vm->virtio->nnet && s->ndisks + i < s->ndev; i++)
			virtio_net_save_fixup(vm->virtio->net[i], &s->dev[s->ndisks + i]);
		for (unsigned i = 0; i < cfg->nnets && s->ndisks + i < s->ndev; i++)
			memcpy(s->net[i].mac, s->dev[s->ndisks + i].config, 6);
	}
	s->vcpu = calloc(vm->nr_vcpus, sizeof(*s->vcpu));
	if (!s->vcpu)
		return fail(msg, ml, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if ((r = save_vcpu(vm, &vm->vcpu[i], &s->vcpu[i], msg, ml)) < 0)
			return r;
	return 0;
}

/* One file of a save: the RAM (buf NULL) or the state (buf, len), synced. Into NAME.tmp under
 * dfd, renamed to NAME once complete (removed if not); or into the front end's open file. */
static int save_file(struct vm *vm, const struct snapshot_request *q, int dfd, const char *name,
                     const uint8_t *buf, size_t len, uint64_t *written, char *msg, size_t ml)
{
	char path[SNAP_NAME_MAX + 32];
	int fd;
	if (q->to_fds) {
		snprintf(path, sizeof(path), "%s/%s", q->dir, name);
		fd = buf ? q->state_fd : q->mem_fd;
	} else if ((fd = write_file(dfd, q->dir, name, path, sizeof(path))) < 0) {
		return fail(msg, ml, -errno, "%s: %s", path, strerror(errno));
	}
	int r = buf ? pwrite_all(fd, buf, len, 0) : write_memory(vm, fd, q->to_fds, written);
	if (!r && buf && fsync(fd) < 0)
		r = -errno;
	if (r == -EMSGSIZE)
		fail(msg, ml, r, "%s: not %llu bytes long, the guest RAM (the front end sizes it)",
		     path, (unsigned long long)vm->mem.ram_size);
	else if (r)
		fail(msg, ml, r, "%s: %s", path, strerror(-r));
	if (q->to_fds)
		return r;
	if (close(fd) < 0 && !r)
		r = fail(msg, ml, -errno, "%s: %s", path, strerror(errno));
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	snprintf(path, sizeof(path), "%s/%s", q->dir, name);
	if (!r && renameat(dfd, tmp, dfd, name) < 0)
		r = fail(msg, ml, -errno, "%s: %s", path, strerror(errno));
	if (r)
		unlinkat(dfd, tmp, 0);
	return r;
}

int snapshot_take(struct vm *vm, const struct snapshot_request *q, char *msg, size_t ml)
{
	const char *dir = q->dir;
	uint64_t t = now_ns();
	/* The disks first: a snapshot whose disks are not on stable storage is no snapshot. */
	if (vm->virtio)
		for (unsigned i = 0; i < vm->virtio->nblk; i++) {
			int r = virtio_blk_flush(vm->virtio->blk[i]);
			if (r == -ENOTSUP)
				return fail(
				        msg, ml, r,
				        "--disk %s,cow: a cow overlay cannot be kept in a snapshot "
				        "(snapshot with the disk itself or ro; clones get their "
				        "own overlays)",
				        vm->cfg->disk[i].path);
			if (r < 0)
				return fail(msg, ml, r, "--disk %s: cannot be flushed: %s",
				            vm->cfg->disk[i].path, strerror(-r));
		}
	int dfd = q->to_fds ? -1 : snap_dirfd;
	if (!q->to_fds && dfd < 0) { /* not set up by snapshot_check_dir(): no sandbox */
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return fail(msg, ml, -errno, "%s: %s", dir, strerror(errno));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return fail(msg, ml, -errno, "%s: %s", dir, strerror(errno));
	}
	int r = devices_quiesce(vm, msg, ml);
	if (r < 0) {
		if (dfd >= 0 && dfd != snap_dirfd)
			close(dfd);
		return r;
	}
	struct snapshot s;
	memset(&s, 0, sizeof(s));
	r = fill_state(vm, &s, msg, ml);
	uint64_t written = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (r == 0 && (r = snapshot_encode(&s, &buf, &len)) < 0)
		fail(msg, ml, r, "encoding the state: %s", strerror(-r));
	/* The old state goes first: a directory never pairs a state with another save's RAM. */
	if (r == 0 && dfd >= 0 && unlinkat(dfd, "state", 0) < 0 && errno != ENOENT)
		r = fail(msg, ml, -errno, "%s/state: %s", dir, strerror(errno));
	if (r == 0)
		r = save_file(vm, q, dfd, "memory", NULL, 0, &written, msg, ml);
	if (r == 0)
		r = save_file(vm, q, dfd, "state", buf, len, NULL, msg, ml);
	devices_release(vm);
	if (r == 0 && dfd >= 0)
		fsync(dfd);
	if (dfd >= 0 && dfd != snap_dirfd)
		close(dfd);
	if (r == 0) {
		snprintf(msg, ml,
		         "snapshot saved to %s: %u vCPU(s), %llu KiB of RAM written of "
		         "%llu MiB, state %zu bytes, in %.1f ms (the guest was paused)",
		         dir, s.cpus, (unsigned long long)(written / 1024),
		         (unsigned long long)(vm->cfg->mem_size / MiB), len,
		         (double)(now_ns() - t) / 1e6);
	}
	free(buf);
	s.cmdline = NULL; /* borrowed */
	snapshot_free(&s);
	return r;
}

static void on_paused(struct vm *vm)
{
	const struct snapshot_request *q = vm->snap_req;
	vm->snap_result = snapshot_take(vm, q, vm->snap_msg, sizeof(vm->snap_msg));
	if (vm->snap_result == 0) {
		__atomic_store_n(&vm->snap_port, 1, __ATOMIC_RELEASE);
		log_info("%s", vm->snap_msg);
	} else {
		log_err("snapshot %s: %s; the VM continues", q->dir, vm->snap_msg);
	}
	atomic_store(&vm->snap_done, true);
	if (vm->snap_result == 0 && q->stop_after)
		vm_stop(vm, VM_SHUTDOWN, 0, "stopped after its snapshot (%s)", q->dir);
	if (q->to_fds) {
		if (vm->on_snapshot)
			vm->on_snapshot(vm);
		atomic_store(&vm->snap_requested, false); /* the front end may order another */
	}
}

void snapshot_request(struct vm *vm)
{
	/* Never a front end's order: its files are written only when it orders them. */
	if (!vm->snap_req || vm->snap_req->to_fds || atomic_exchange(&vm->snap_requested, true))
		return; /* one snapshot a run: the first trigger wins */
	vcpus_pause(vm, on_paused);
}

int snapshot_order(struct vm *vm, const struct snapshot_request *q)
{
	if (!q->to_fds || atomic_exchange(&vm->snap_requested, true))
		return -EBUSY;
	vm->snap_req = q;
	atomic_store(&vm->snap_done, false);
	vcpus_pause(vm, on_paused);
	return 0;
}

/* ---- opening a snapshot ---- */

int snapshot_open(struct snapshot *s, const char *dir, struct err *e)
{
	memset(s, 0, sizeof(*s));
	s->mem_fd = -1;
	char path[SNAP_NAME_MAX + 16];
	if (strlen(dir) >= SNAP_NAME_MAX - 16)
		return err_set(e, -EINVAL, "--restore: '%s': name too long", dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SNAP_STATE_MAX) {
		close(fd);
		return err_set(e, -EINVAL, "%s: not a regular file of at most %u MiB", path,
		               SNAP_STATE_MAX >> 20);
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	size_t got = 0;
	while (buf && got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		return err_set(e, -ENOMEM, "%s: out of memory", path);
	int r = snapshot_decode(s, buf, got, path, e);
	free(buf);
	if (r < 0)
		return r;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/memory", dir);
	s->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->mem_fd < 0) {
		r = err_set(e, -errno, "%s: %s", path, strerror(errno));
		goto bad;
	}
	if (fstat(s->mem_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = err_set(e, -EINVAL, "%s: not a regular file", path);
		goto bad;
	}
	s->mem_file_size = (uint64_t)st.st_size;
	if (s->mem_file_size < s->mem_size) {
		r = err_set(e, -EINVAL,
		            "%s: %llu bytes, shorter than the guest's %llu bytes of RAM", path,
		            (unsigned long long)s->mem_file_size, (unsigned long long)s->mem_size);
		goto bad;
	}
	for (unsigned i = 0; i < s->ndisks; i++) {
		if (stat(s->disk[i].path, &st) < 0) {
			r = err_set(e, -errno, "%s/state: disk %s: %s", dir, s->disk[i].path,
			            strerror(errno));
			goto bad;
		}
		if ((uint64_t)st.st_size != s->disk[i].size) {
			r = err_set(e, -EINVAL,
			            "%s/state: disk %s is %llu bytes, it was %llu at the snapshot",
			            dir, s->disk[i].path, (unsigned long long)st.st_size,
			            (unsigned long long)s->disk[i].size);
			goto bad;
		}
	}
	return 0;
bad:
	snapshot_close(s);
	return r;
}

void snapshot_close(struct snapshot *s)
{
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	s->mem_fd = -1;
	snapshot_free(s);
}

/* ---- restore stages ---- */

int snapshot_stage_irqchip(struct vm *vm)
{
	int r = kvm_setup_irqchip(vm);
	return r < 0 ? r : irqchip_restore(vm, vm->cfg->snap);
}

int snapshot_stage_devices(struct vm *vm)
{
	const struct snapshot *s = vm->cfg->snap;
	int r = devices_setup(vm);
	if (r < 0)
		return r;
	serial_restore(&vm->serial, &s->serial);
	if (vm->irqchip == IRQCHIP_SPLIT)
		pic_guard_restore(&vm->pic, &s->uioapic);
	rtc_restore(&vm->rtc, &s->rtc);
	i8042_restore(&vm->i8042, &s->i8042);
	__atomic_store_n(&vm->snap_port, 0x80000000u | vm->id, __ATOMIC_RELEASE);
	unsigned ndev = vm->virtio ? vm->virtio->ndev : 0;
	if (ndev != s->ndev) {
		set_reason(vm, "%s/state: %u virtio devices saved, %u configured", s->dir, s->ndev,
		           ndev);
		return -EINVAL;
	}
	for (unsigned i = 0; i < ndev; i++) {
		struct virtio_mmio *d = vm->virtio->dev[i];
		char why[256];
		pthread_mutex_lock(&d->lock);
		r = virtio_mmio_restore(d, &s->dev[i], why, sizeof(why));
		pthread_mutex_unlock(&d->lock);
		if (r < 0) {
			set_reason(vm, "%s/state: %s", s->dir, why);
			return r;
		}
	}
	return 0;
}

#define VCPU_SET(req, ptr)                                                                         \
	do {                                                                                       \
		if (ioctl(v->fd, req, ptr) < 0) {                                                  \
			int r_ = -errno;                                                           \
			set_reason(vm, "%s/state: vCPU %u: " #req ": %s", s->dir, v->id,           \
			           strerror(-r_));                                                 \
			return r_;                                                                 \
		}                                                                                  \
	} while (0)

static int restore_vcpu(struct vm *vm, struct vcpu *v, const struct snapshot *s,
                        const struct snap_vcpu *sv)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sv->ncpuid * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = sv->ncpuid;
	memcpy(c->entries, sv->cpuid, sv->ncpuid * sizeof(c->entries[0]));
	int r = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (r < 0) {
		set_reason(vm, "%s/state: vCPU %u: KVM_SET_CPUID2: %s", s->dir, v->id,
		           strerror(-r));
		return r;
	}
	struct kvm_mp_state mp = sv->mp;
	struct kvm_regs regs = sv->regs;
	struct kvm_sregs sregs = sv->sregs;
	struct kvm_debugregs dregs = sv->dregs;
	struct kvm_lapic_state lapic = sv->lapic;
	struct kvm_vcpu_events ev = sv->events;
	VCPU_SET(KVM_SET_MP_STATE, &mp);
	VCPU_SET(KVM_SET_REGS, &regs);
	VCPU_SET(KVM_SET_SREGS, &sregs);
	if (sv->xsave_len) {
		/* KVM reads as many bytes as its own XSAVE size: give it at least that. */
		int need = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
		size_t len = need > (int)sv->xsave_len ? (size_t)need : sv->xsave_len;
		uint8_t *x = calloc(1, len);
		if (!x)
			return -ENOMEM;
		memcpy(x, sv->xsave, sv->xsave_len);
		r = ioctl(v->fd, KVM_SET_XSAVE, x) < 0 ? -errno : 0;
		free(x);
		if (r < 0) {
			set_reason(vm, "%s/state: vCPU %u: KVM_SET_XSAVE: %s", s->dir, v->id,
			           strerror(-r));
			return r;
		}
	} else {
		struct kvm_fpu fpu = sv->fpu;
		VCPU_SET(KVM_SET_FPU, &fpu);
	}
	if (sv->have_xcrs) {
		struct kvm_xcrs x = sv->xcrs;
		VCPU_SET(KVM_SET_XCRS, &x);
	}
	VCPU_SET(KVM_SET_DEBUGREGS, &dregs);
	VCPU_SET(KVM_SET_LAPIC, &lapic);
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sv->nmsrs * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	m->nmsrs = sv->nmsrs;
	memcpy(m->entries, sv->msrs, sv->nmsrs * sizeof(struct kvm_msr_entry));
	r = ioctl(v->fd, KVM_SET_MSRS, m);
	if (r < 0 || (uint32_t)r != sv->nmsrs) {
		int e = r < 0 ? -errno : -EINVAL;
		set_reason(vm, "%s/state: vCPU %u: KVM_SET_MSRS: %s (MSR 0x%x)", s->dir, v->id,
		           r < 0 ? strerror(errno) : "refused",
		           r >= 0 && (uint32_t)r < sv->nmsrs ? m->entries[r].index : 0);
		free(m);
		return e;
	}
	free(m);
	VCPU_SET(KVM_SET_VCPU_EVENTS, &ev);
	return 0;
}

int snapshot_stage_vcpus(struct vm *vm)
{
	const struct snapshot *s = vm->cfg->snap;
	for (unsigned i = 0; i < s->cpus; i++) {
		int r = vcpu_open(vm, i);
		if (r == 0)
			r = restore_vcpu(vm, &vm->vcpu[i], s, &s->vcpu[i]);
		if (r < 0)
			return r;
	}
	/* A new VM Generation ID in this clone's own copy of the page, and the Generic Event
	 * Device's edge: Linux's vmgenid sees the change and reseeds its RNG (add_vmfork_
	 * randomness()), so clones never share random streams. Delivered at the first entry. */
	if (s->acpi) {
		if (acpi_vmgenid_write(&vm->mem) < 0) {
			set_reason(vm, "%s: VM Generation ID: no randomness", s->dir);
			return -EIO;
		}
		vm_irq_line(vm, VMGENID_GSI, 1);
		vm_irq_line(vm, VMGENID_GSI, 0);
	}
	/* kvmclock continues from the saved value: to the guest the snapshot was a pause. */
	struct kvm_clock_data clock = {.clock = s->clock.clock};
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
		int r = -errno;
		set_reason(vm, "%s/state: KVM_SET_CLOCK: %s", s->dir, strerror(-r));
		return r;
	}
	return 0;
}

/* ---- front-end helpers: triggers on an origin, configuration of a restore ---- */

int snapshot_check_dir(const char *dir, struct err *e)
{
	if (strlen(dir) >= SNAP_NAME_MAX - 16)
		return err_set(e, -EINVAL, "--snapshot: '%s': name too long", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, -errno, "--snapshot: %s: %s", dir, strerror(errno));
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, -ENOTDIR, "--snapshot: %s: not a directory", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return err_set(e, -errno, "--snapshot: %s: %s", dir, strerror(errno));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(e, -errno, "--snapshot: %s: %s", dir, strerror(errno));
	if (snap_dirfd >= 0)
		close(snap_dirfd);
	snap_dirfd = dfd;
	if (snap_pagemap < 0)
		snap_pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	sandbox_allow_snapshot(dfd);
	return 0;
}

struct trigger {
	pthread_t timer;
	bool have_timer;
	int wake[2];
	regex_t re;
	bool have_re;
	unsigned len;
	char line[512];
};

static void trigger_on_mark(struct vm *vm, enum vm_stage st)
{
	if (st == ST_READY)
		snapshot_request(vm);
}

/* Under the serial lock, on a vCPU thread: only sets the request (vcpus_pause never waits). */
static void trigger_on_byte(struct vm *vm, uint8_t c)
{
	struct trigger *t = vm->snap_priv;
	if (c != '\n' && t->len < sizeof(t->line) - 1) {
		t->line[t->len++] = (char)c;
		return;
	}
	while (t->len && t->line[t->len - 1] == '\r')
		t->len--;
	t->line[t->len] = 0;
	t->len = 0;
	if (regexec(&t->re, t->line, 0, NULL, 0) == 0)
		snapshot_request(vm);
}

static void *trigger_timer(void *arg)
{
	struct vm *vm = arg;
	struct trigger *t = vm->snap_priv;
	uint64_t at = vm->t0 + vm->snap_req->after_ms * 1000000ULL;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= at) {
			snapshot_request(vm);
			return NULL;
		}
		struct pollfd p = {.fd = t->wake[0], .events = POLLIN};
		int n = poll(&p, 1, (int)((at - now) / 1000000 + 1));
		if (n > 0)
			return NULL; /* disarmed */
	}
}

int snapshot_arm(struct vm *vm)
{
	const struct snapshot_request *q = vm->snap_req;
	if (!q)
		return 0;
	struct trigger *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->wake[0] = t->wake[1] = -1;
	vm->snap_priv = t;
	switch (q->at) {
	case SNAP_AT_READY:
		vm->on_mark = trigger_on_mark;
		break;
	case SNAP_AT_LINE:
		if (regcomp(&t->re, q->pattern, REG_EXTENDED | REG_NOSUB))
			return -EINVAL;
		t->have_re = true;
		pthread_mutex_lock(&vm->serial.lock);
		vm->serial.on_byte = trigger_on_byte;
		pthread_mutex_unlock(&vm->serial.lock);
		break;
	case SNAP_AT_SECONDS:
		if (pipe2(t->wake, O_CLOEXEC) < 0)
			return -errno;
		if (pthread_create(&t->timer, NULL, trigger_timer, vm))
			return -EAGAIN;
		t->have_timer = true;
		break;
	case SNAP_AT_PORT: /* devices/snapshot_port.c */
	case SNAP_AT_NONE:
		break;
	}
	return 0;
}

void snapshot_disarm(struct vm *vm)
{
	struct trigger *t = vm->snap_priv;
	if (!t)
		return;
	if (t->have_timer) {
		(void)!write(t->wake[1], "x", 1);
		pthread_join(t->timer, NULL);
	}
	if (t->wake[0] >= 0) {
		close(t->wake[0]);
		close(t->wake[1]);
	}
	pthread_mutex_lock(&vm->serial.lock);
	if (vm->serial.on_byte == trigger_on_byte)
		vm->serial.on_byte = NULL;
	pthread_mutex_unlock(&vm->serial.lock);
	if (t->have_re)
		regfree(&t->re);
	if (vm->on_mark == trigger_on_mark)
		vm->on_mark = NULL;
	free(t);
	vm->snap_priv = NULL;
}

const char *snapshot_outcome(const struct vm *vm)
{
	if (!vm->snap_req)
		return NULL;
	if (!atomic_load(&vm->snap_done))
		return "the guest never reached the snapshot point";
	return vm->snap_result < 0 ? vm->snap_msg : NULL;
}

int snapshot_configure(struct snapshot *s, const char *dir, struct vm_config *cfg,
                       unsigned instances, struct kernel_image *k, struct err *e)
{
	int r = snapshot_open(s, dir, e);
	if (r < 0)
		return r;
	/* The irqchip mode is the snapshot's: the LAPICs' state and the interrupt routing only
	 * make sense in it. An explicit --irqchip of the other mode is refused here, before any
	 * KVM work (irqchip_restore() checks again for callers that skip this). */
	enum irqchip_mode mode = s->irqchip == SNAP_IRQCHIP_SPLIT ? IRQCHIP_SPLIT : IRQCHIP_KERNEL;
	if (cfg->irqchip != IRQCHIP_AUTO && cfg->irqchip != mode) {
		r = err_set(e, -EINVAL,
		            "--irqchip %s: %s/state was taken with the %s irqchip, and a restore "
		            "keeps its mode",
		            irqchip_name(cfg->irqchip), dir, irqchip_name(mode));
		snapshot_close(s);
		return r;
	}
	cfg->irqchip = mode;
	cfg->snap = s;
	cfg->mem_size = s->mem_size;
	cfg->cpus = s->cpus;
	cfg->cmdline = s->cmdline;
	cfg->discovery = (enum virtio_discovery)s->discovery;
	cfg->ndisks = s->ndisks;
	for (unsigned i = 0; i < s->ndisks; i++) {
		struct disk_cfg *d = &cfg->disk[i];
		snprintf(d->path, sizeof(d->path), "%s", s->disk[i].path);
		d->ro = s->disk[i].ro;
		/* Clones must not write one image: each gets its own private overlay. */
		d->cow = !d->ro && (s->disk[i].cow || instances > 0);
	}
	cfg->nnets = s->nnets;
	for (unsigned i = 0; i < s->nnets; i++)
		cfg->net[i].tap = s->net[i].tap[0] ? s->net[i].tap : NULL;
	if (s->nnets) { /* the driver cached the origin's MAC; config space says the same */
		memcpy(cfg->mac, s->net[0].mac, 6);
		cfg->mac_set = true;
	}
	memset(k, 0, sizeof(*k));
	snprintf(s->label, sizeof(s->label), "%.*s (snapshot of %.*s)", SNAP_NAME_MAX / 2, dir,
	         SNAP_NAME_MAX / 2, s->kernel[0] ? s->kernel : "?");
	k->name = s->label;
	k->fmt = (enum kernel_format)s->kernel_fmt;
	k->is_linux = s->is_linux;
	return 0;
}

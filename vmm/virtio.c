/* vmm/virtio.c — a VM's virtio devices: where they live, how the guest hears of them, and
 * their lifetime (one I/O thread per VM serves all of them). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "log.h"
#include "virtio.h"
#include "vmm.h"

const unsigned virtio_gsi[VIRTIO_MAX_DEVS] = {5, 6, 7, 10, 11, 12, 13, 14, 15};

unsigned virtio_layout(const struct vm_config *cfg, struct virtio_slot out[VIRTIO_MAX_DEVS])
{
	unsigned n = cfg->ndisks + cfg->nnets;
	if (n > VIRTIO_MAX_DEVS)
		n = VIRTIO_MAX_DEVS;
	for (unsigned i = 0; i < n; i++)
		out[i] = (struct virtio_slot){.base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE,
		                              .size = (uint32_t)VIRTIO_MMIO_SIZE,
		                              .gsi = virtio_gsi[i]};
	return n;
}

/* Where the entries go: before the first word that is exactly "--", else at the end. After
 * " -- " comes the application's argv (Unikraft reads its library parameters, device entries
 * included, only before it; Linux hands what follows to init), so Firecracker's command-line
 * builder inserts devices before it too. Returns the offset of that word or len. */
static size_t cmdline_split(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '-' && s[i + 1] == '-' && (i == 0 || s[i - 1] == ' ') &&
		    (i + 2 == len || s[i + 2] == ' '))
			return i;
	return len;
}

int virtio_cmdline(const struct vm_config *cfg, char *buf, size_t len)
{
	struct virtio_slot s[VIRTIO_MAX_DEVS];
	unsigned n = virtio_layout(cfg, s);
	size_t used = strnlen(buf, len);
	if (used == len)
		return -E2BIG;
	size_t at = cmdline_split(buf, used);
	char ent[VIRTIO_MAX_DEVS * 48];
	size_t el = 0;
	for (unsigned i = 0; i < n; i++) {
		int k = snprintf(ent + el, sizeof(ent) - el, "%svirtio_mmio.device=%uK@0x%llx:%u",
		                 el ? " " : "", s[i].size / 1024, (unsigned long long)s[i].base,
		                 s[i].gsi);
		if (k < 0 || (size_t)k >= sizeof(ent) - el)
			return -E2BIG;
		el += (size_t)k;
	}
	if (!el)
		return 0;
	/* "head" + sep + entries + sep2 + "tail": one space between the words, none doubled. */
	bool sep = at > 0 && buf[at - 1] != ' ';
	bool sep2 = at < used;
	size_t total = used + sep + el + sep2;
	if (total >= len)
		return -E2BIG;
	memmove(buf + at + sep + el + sep2, buf + at, used - at + 1); /* tail and its NUL */
	if (sep)
		buf[at] = ' ';
	memcpy(buf + at + sep, ent, el);
	if (sep2)
		buf[at + sep + el] = ' ';
	return 0;
}

enum virtio_discovery virtio_discovery_resolve(enum virtio_discovery d,
                                               const struct kernel_image *k)
{
	if (d != DISCOVERY_AUTO)
		return d;
	/* Linux (bzImage or vmlinux, stock distribution builds) finds devices, CPUs and the
	 * IOAPIC through ACPI: Debian's kernels have neither CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES
	 * nor CONFIG_X86_MPPARSE. Unikernels (OSv, Unikraft, own guests) read the cmdline. */
	return k->is_linux ? DISCOVERY_ACPI : DISCOVERY_CMDLINE;
}

static void io_sandbox_failed(void *arg, int err)
{
	vm_stop(arg, VM_FAILED, 0, "I/O thread: sandbox: %s", strerror(-err));
}

void virtio_net_mac(const struct vm_config *cfg, unsigned vm_id, unsigned nic, uint8_t mac[6])
{
	if (!cfg->mac_set) {
		const uint8_t m[6] = {
		        0x52,          0x54, 0x00, (uint8_t)(0xf0 | nic), (uint8_t)(vm_id >> 8),
		        (uint8_t)vm_id};
		memcpy(mac, m, 6);
		return;
	}
	/* Every NIC of every batch instance gets its own address (the same MAC twice on one
	 * bridge breaks both). The NIC-specific part is the last three bytes (IEEE: after the
	 * OUI); it wraps within them. */
	memcpy(mac, cfg->mac, 6);
	uint32_t low = ((uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5]) +
	               vm_id * cfg->nnets + nic;
	mac[3] = (uint8_t)(low >> 16);
	mac[4] = (uint8_t)(low >> 8);
	mac[5] = (uint8_t)low;
}

int virtio_setup(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	if (!cfg->ndisks && !cfg->nnets)
		return 0;
	if (cfg->ndisks + cfg->nnets > VIRTIO_MAX_DEVS) {
		snprintf(vm->reason, sizeof(vm->reason), "at most %d virtio devices (disks + NICs)",
		         VIRTIO_MAX_DEVS);
		return -E2BIG;
	}
	struct vm_virtio *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	vm->virtio = v;
	int r = iothread_init(&v->io);
	if (r < 0) {
		snprintf(vm->reason, sizeof(vm->reason), "I/O thread: %s", strerror(-r));
		return r;
	}
	struct virtio_slot slot[VIRTIO_MAX_DEVS];
	virtio_layout(cfg, slot);
	char why[256];
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		r = virtio_blk_create(&v->blk[i], &cfg->disk[i], i, &vm->mem, vm->id, why,
		                      sizeof(why));
		if (r < 0) {
			snprintf(vm->reason, sizeof(vm->reason), "%s", why);
			return r;
		}
		v->nblk++;
		struct virtio_mmio *d = virtio_blk_mmio(v->blk[i]);
		v->dev[v->ndev++] = d;
		r = virtio_mmio_attach(d, vm, &v->io, slot[i].base, slot[i].gsi);
		if (!r)
			r = virtio_blk_start(v->blk[i], &v->io);
		if (r < 0) {
			snprintf(vm->reason, sizeof(vm->reason), "--disk %s: %s", cfg->disk[i].path,
			         strerror(-r));
			return r;
		}
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		uint8_t mac[6];
		virtio_net_mac(cfg, vm->id, i, mac);
		r = virtio_net_create(&v->net[i], &cfg->net[i], i, mac, &vm->mem, vm->id, why,
		                      sizeof(why));
		if (r < 0) {
			snprintf(vm->reason, sizeof(vm->reason), "%s", why);
			return r;
		}
		v->nnet++;
		unsigned k = cfg->ndisks + i;
		struct virtio_mmio *d = virtio_net_mmio(v->net[i]);
		v->dev[v->ndev++] = d;
		r = virtio_mmio_attach(d, vm, &v->io, slot[k].base, slot[k].gsi);
		if (!r)
			r = virtio_net_start(v->net[i], &v->io);
		if (r < 0) {
			snprintf(vm->reason, sizeof(vm->reason), "--net: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

int virtio_start(struct vm *vm)
{
	struct vm_virtio *v = vm->virtio;
	if (!v)
		return 0;
	v->io.on_error = io_sandbox_failed;
	v->io.err_arg = vm;
	int r = iothread_start(&v->io);
	if (r < 0)
		snprintf(vm->reason, sizeof(vm->reason), "I/O thread: %s", strerror(-r));
	return r;
}

void virtio_patch_mac(struct vm *vm, const uint8_t mac[6])
{
	struct vm_virtio *v = vm->virtio;
	for (unsigned i = 0; v && i < v->nnet; i++) {
		struct virtio_mmio *d = virtio_net_mmio(v->net[i]);
		memcpy(d->config, mac, 6); /* struct virtio_net_config.mac (virtio 1.2 §5.1.4) */
		d->config[5] = (uint8_t)(mac[5] + i);
	}
}

void virtio_teardown(struct vm *vm)
{
	struct vm_virtio *v = vm->virtio;
	if (!v)
		return;
	iothread_stop(&v->io); /* no handler runs after this */
	for (unsigned i = 0; i < v->ndev; i++)
		virtio_mmio_detach(v->dev[i], vm);
	for (unsigned i = 0; i < v->nblk; i++)
		virtio_blk_destroy(v->blk[i]);
	for (unsigned i = 0; i < v->nnet; i++)
		virtio_net_destroy(v->net[i]);
	free(v);
	vm->virtio = NULL;
}

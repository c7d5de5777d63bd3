/* include/oci.h — fastvmm as an OCI runtime (docs/oci.md).
 *
 * Two halves: vmm/oci_bundle.c turns a bundle (config.json + rootfs, runtime-spec v1
 * "config.md") into a validated struct oci_bundle — every path resolved inside the rootfs,
 * every value bounded — and vmm/oci.c is the runtime's command line (create/start/state/
 * kill/delete/features, as runc's and what containerd's runc.v2 shim and conmon call), its
 * state under --root and the container's init process, which is the VM's process. */
#ifndef FASTVMM_OCI_H
#define FASTVMM_OCI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "vmm.h"

/* Annotations a bundle may carry (all optional; an unknown org.fastvmm.* key is an error so
 * that a typo is not silently ignored). Paths are inside the rootfs. */
#define OCI_ANN_PREFIX  "org.fastvmm."
#define OCI_ANN_KERNEL  "org.fastvmm.kernel"  /* kernel file */
#define OCI_ANN_CMDLINE "org.fastvmm.cmdline" /* the whole kernel command line */
#define OCI_ANN_INITRD  "org.fastvmm.initrd"  /* initrd file */
#define OCI_ANN_MEM     "org.fastvmm.mem"     /* guest RAM, "64M" */
#define OCI_ANN_CPUS    "org.fastvmm.cpus"    /* vCPUs, 1..VM_MAX_CPUS */
#define OCI_ANN_DISKS   "org.fastvmm.disks"   /* "img[:cow|:ro|:rw],..." virtio-blk disks */
#define OCI_ANN_TIMEOUT "org.fastvmm.timeout" /* seconds, then the VM is stopped */
/* Seconds a guest that listens to the ACPI power button has to power off after SIGTERM. */
#define OCI_ANN_STOP_GRACE "org.fastvmm.stop-grace"
#define OCI_STOP_GRACE_MS  5000 /* below podman's (10 s) and Kubernetes' (30 s) own grace */

/* The VMM's own memory next to guest RAM (page tables, binary, virtqueues, stacks): added to
 * a spec's memory limit when it becomes the cgroup's limit, so that a guest using all of
 * its RAM is not OOM-killed for the VMM's share. */
#define OCI_VMM_OVERHEAD (32 * MiB)

#define OCI_MAX_RLIMITS 16
#define OCI_CONFIG_MAX  (4 * MiB) /* config.json larger than this is refused */

/* A file the VM uses, opened when the bundle was loaded (an O_RDONLY fd, so that a later
 * rename in the rootfs cannot swap it) and named as the user wrote it for messages. */
struct oci_file {
	int fd;              /* -1: none */
	char name[PATH_MAX]; /* "/hello.elf" (in the rootfs) or a host path (spec "vm" object) */
	char path[32];       /* "/proc/self/fd/N": what the core opens */
};

struct oci_bundle {
	char dir[PATH_MAX];    /* absolute bundle directory */
	char rootfs[PATH_MAX]; /* absolute rootfs directory */
	char oci_version[32];
	struct oci_file kernel, initrd;
	struct oci_file disk[VM_MAX_DISKS];
	bool disk_ro[VM_MAX_DISKS], disk_cow[VM_MAX_DISKS];
	unsigned ndisks;
	char *cmdline; /* malloc'd */
	uint64_t mem;  /* guest RAM, bytes */
	unsigned cpus;
	uint64_t timeout_ms; /* 0: none */
	uint64_t stop_grace_ms;
	bool terminal; /* process.terminal: the console is a pty on --console-socket */
	bool no_new_privs;
	struct {
		int resource;
		uint64_t soft, hard;
	} rlimit[OCI_MAX_RLIMITS];
	unsigned nrlimits;
	/* linux.cgroupsPath and the limits written into it (0 / -1: none). */
	char cgroup[PATH_MAX];
	int64_t cg_mem;         /* bytes, already including OCI_VMM_OVERHEAD */
	int64_t cg_cpu_quota;   /* µs per period */
	uint64_t cg_cpu_period; /* µs */
	int64_t cg_pids;
	char *annotations_json; /* the bundle's annotations, compact JSON (malloc'd) */
	/* A Kubernetes pod sandbox (the "pause" container: annotation
	 * io.kubernetes.cri.container-type or io.kubernetes.cri-o.ContainerType = "sandbox"):
	 * no VM; the instance only waits to be stopped, as pause does. Nothing else is read. */
	bool sandbox;
};

/* Load and validate bundle_dir/config.json. Returns 0, or -errno with e->msg one line naming
 * the field and the problem. On success the caller owns b (oci_bundle_free). */
int oci_bundle_load(struct oci_bundle *b, const char *bundle_dir, struct err *e);
void oci_bundle_free(struct oci_bundle *b);
/* The same from config.json's bytes (json, len: not NUL-terminated) for the bundle directory
 * bundle_dir (its rootfs is still opened): the fuzz target's entry (tests/fuzz/fuzz_oci.c). */
int oci_bundle_parse(struct oci_bundle *b, const char *bundle_dir, const char *json, size_t len,
                     struct err *e);
/* Fill a vm_config from a loaded bundle (pointers into b: keep b alive). */
void oci_bundle_config(const struct oci_bundle *b, struct vm_config *cfg);

/* Open `path` (as a bundle names it) inside the directory rootfd as if rootfd were "/":
 * symlinks are resolved within it (openat2 RESOLVE_IN_ROOT, like runc's securejoin), a ".."
 * component in `path` itself is refused, and the file must be a regular file. Returns an
 * O_RDONLY fd or -errno with e->msg set ("what" names the field). */
int oci_open_in_root(int rootfd, const char *path, const char *what, struct err *e);

/* Control characters in s (a message quoting outside input) become '?': one line. */
void oci_msg_clean(char *s);

/* The runtime's command line: `fastvmm oci ARGS` and `fastvmm-oci ARGS` (argv[0] is the
 * program name). Returns the process exit status. */
int oci_main(int argc, char **argv);

#endif

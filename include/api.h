/* include/api.h — the daemon's protocol half (vmm/api.c): an HTTP request (method, path, JSON
 * body) becomes a validated struct action, and results become JSON. Pure: no I/O, no KVM, no
 * daemon state; every function here is unit-tested (tests/unit/test_api.c). The other half,
 * vmm/serve.c, carries actions out and never sees HTTP (design §8, as Firecracker's
 * api_server hands a VmmAction to its VMM). */
#ifndef FASTVMM_API_H
#define FASTVMM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "instance.h"
#include "vmm.h"

#define TEMPLATE_NAME_MAX 64

enum action_kind {
	ACT_TEMPLATE_PUT,
	ACT_TEMPLATE_LIST,
	ACT_TEMPLATE_GET,
	ACT_TEMPLATE_DELETE,
	ACT_VM_CREATE,
	ACT_VM_LIST,
	ACT_VM_GET,
	ACT_VM_CONSOLE,
	ACT_VM_DELETE,
	ACT_VM_SNAPSHOT,
	ACT_METRICS,
};

/* How long POST /vms waits before answering; WAIT_SNAPSHOT: PUT /vms/{id}/snapshot, until the
 * VM's snapshot has been saved (or not). */
enum wait_for { WAIT_NONE, WAIT_RUNNING, WAIT_READY, WAIT_EXIT, WAIT_SNAPSHOT };
const char *api_wait_name(enum wait_for w);

/* PUT /templates/{name}: what the body says, checked for types and ranges (the files are
 * opened and parsed by the daemon, vmm/serve.c). Strings are malloc()ed (api_action_free). */
struct template_spec {
	/* kernel, or snapshot (a directory of `fastvmm --snapshot`: the VMs are its clones, and
	 * it fixes kernel, initrd, cmdline, mem, cpus, disks and nets); others NULL if absent */
	char *kernel, *snapshot, *initrd, *cmdline, *ready;
	uint64_t mem; /* bytes */
	unsigned cpus;
	unsigned pool;       /* warm VMs to keep */
	uint64_t timeout_ms; /* each VM's run limit, 0: none */
	struct disk_cfg disk[VM_MAX_DISKS];
	unsigned ndisks;
	char *tap[VM_MAX_NICS]; /* NULL: the kernel names the tap */
	unsigned nnets;
};

/* POST /vms: from a template, or from a snapshot directory (a one-off clone, restored on the
 * request path; snapshot[0] == 0: none) */
#define VM_SNAPSHOT_MAX 4000
struct vm_request {
	char template_name[TEMPLATE_NAME_MAX + 1];
	char snapshot[VM_SNAPSHOT_MAX + 1];
	char cmdline_append[PATCH_CMDLINE_MAX];
	enum wait_for wait;
	uint64_t timeout_ms; /* overrides the template's if timeout_set */
	bool timeout_set;
	uint8_t mac[6];
	bool mac_set;
};

struct action {
	enum action_kind kind;
	char name[TEMPLATE_NAME_MAX + 1]; /* template actions; ACT_VM_SNAPSHOT: the snapshot's */
	bool snap_stop;                   /* ACT_VM_SNAPSHOT: stop the VM once saved */
	uint64_t id;                      /* VM actions */
	struct template_spec tmpl;        /* ACT_TEMPLATE_PUT */
	struct vm_request vm;             /* ACT_VM_CREATE */
};

/* Parse and validate one request. Returns 0, or the HTTP status to answer (400 bad body or
 * field, 404 no such path, 405 method not allowed) with a one-line reason in err. Either way
 * api_action_free(a) releases what was allocated. */
int api_parse(struct action *a, const char *method, const char *path, const char *body,
              size_t body_len, char *err, size_t err_len);
void api_action_free(struct action *a);
/* A template name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool api_name_ok(const char *s);

/* {"error": msg} as a malloc()ed string. */
char *api_error_json(const char *msg);

#endif

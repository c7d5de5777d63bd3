/* include/config.h — command line → struct vm_config. Pure: no I/O, no exit; unit-tested. */
#ifndef FASTVMM_CONFIG_H
#define FASTVMM_CONFIG_H

#include "boot.h"
#include "snapshot.h"
#include "vmm.h"

#define DEFAULT_MEM     (128 * MiB)
#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"

enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP,
	CONFIG_VERSION,
};

struct cli {
	struct vm_config vm;
	bool timings; /* stage table on stderr after the run */
	int verbosity;
	/* Batch mode (-n, vmm/batch.c): n instances, one process each; n == 0 is one VM. */
	unsigned n, parallel; /* parallel: in-flight cap, 0 = all */
	const char *log_dir, *ready, *plot;
	bool console;
	bool no_sandbox;     /* --no-sandbox: no seccomp filter, capabilities kept */
	bool stop_on_signal; /* --stop-grace: SIGTERM/SIGINT stop the VM (vm.stop_grace_ms) */
	/* Snapshots (issue 9): --snapshot DIR with --snapshot-at/--snapshot-then; --restore DIR. */
	struct snapshot_request snap; /* snap.dir NULL: none */
	const char *restore;
};

#define BATCH_MAX 10000 /* largest -n: a sanity bound (one process per instance) */

/* Parse argv. Returns a config_action (>= 0), or -EINVAL with e->msg set to one line
 * naming the flag and the problem. */
int config_parse(struct cli *c, int argc, char **argv, struct err *e);
/* "128M", "1G", "512K", "4096B"; a plain number means MiB. Returns 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Seconds, decimal fractions allowed ("2", "0.5"); to milliseconds, > 0. */
int parse_seconds(const char *s, uint64_t *ms);
/* Decimal unsigned within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "52:54:00:12:34:56" → 6 bytes; unicast only. 0 or -EINVAL. */
int parse_mac(const char *s, uint8_t mac[6]);
void config_usage(FILE *out);

#endif

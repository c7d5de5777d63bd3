/* include/instance.h — the per-instance process: the one core every front end launches VMs
 * with (design §9). The single-VM CLI (vmm/main.c), batch mode (vmm/batch.c) and the daemon
 * (vmm/serve.c) all build a VM with instance_build(), optionally wait before its first
 * KVM_RUN (a warm pool: instance_wait_go()), run it with instance_run(), and record what it
 * did with instance_finish() / instance_interrupted().
 *
 * Contract: one struct instance per process; a launcher forks, the child calls
 * instance_process_setup(), instance_init(), instance_build() ... instance_finish(), which
 * writes the struct batch_record the launcher shares with it, sends a note and _exits (the
 * VM's teardown then happens in the kernel, off every measured path, design §4). */
#ifndef FASTVMM_INSTANCE_H
#define FASTVMM_INSTANCE_H

#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch.h"
#include "vmm.h"

/* Notes: 4-byte words an instance writes on its launcher's pipe (atomic: < PIPE_BUF). The low
 * 24 bits are the launcher's index of the instance, the high bits say what happened; a word
 * with no kind bit means "record written, exiting". */
#define NOTE_INDEX    0x00ffffffu
#define NOTE_READY    0x80000000u /* ready (boot timer or the ready pattern) */
#define NOTE_RUNNING  0x40000000u /* first KVM_RUN entered */
#define NOTE_PREPARED 0x20000000u /* built and waiting before its first KVM_RUN (pool) */
#define NOTE_SNAPSHOT 0x10000000u /* a snapshot order ended: the record's snap_rc, snap_msg */

/* A snapshot order: a launcher (the daemon) tells a running instance to save itself, on the
 * instance's control socket (SOCK_SEQPACKET), in one message with two descriptors
 * (SCM_RIGHTS): the RAM file, already as long as the guest's RAM, then the state file. The
 * launcher made both in a directory of its own and renames it into place once the note
 * NOTE_SNAPSHOT says the save succeeded. */
#define SNAPSHOT_ORDER_MAGIC 0x50414e53u /* "SNAP" */
struct snapshot_order_msg {
	uint32_t magic;
	uint32_t stop;  /* end the VM once saved */
	char dir[4096]; /* where it will be, for messages */
};

/* A warm instance's per-request difference, sent by the launcher on the instance's control
 * pipe in one write (sizeof < PIPE_BUF, so it arrives whole). */
#define PATCH_CMDLINE_MAX 2048
struct instance_patch {
	uint64_t t0;    /* CLOCK_MONOTONIC ns of the request: timings start here */
	uint32_t id;    /* the instance id the guest and the logs see */
	uint8_t mac[6]; /* first NIC's MAC, if mac_set */
	uint8_t mac_set;
	uint8_t timeout_set;
	uint64_t timeout_ms;                  /* replaces the configuration's if timeout_set */
	char cmdline_tail[PATCH_CMDLINE_MAX]; /* appended after a space; "" for none */
};

struct instance;
/* One console line (with its '\n' if it had one), on the vCPU thread under the serial lock. */
typedef void (*instance_line_fn)(struct instance *in, const char *line, unsigned len);

struct instance {
	struct vm vm; /* first member: device callbacks get &in->vm */
	struct vm_config cfg;
	struct batch_record *rec; /* shared with the launcher */
	int note_fd;              /* launcher's pipe, write end */
	unsigned index;           /* the launcher's index, sent in notes */
	const regex_t *ready_re;  /* NULL: no ready pattern */
	const char *ready_text;   /* the pattern as given, for messages */
	bool note_marks;          /* send NOTE_RUNNING / NOTE_READY */
	bool capture_console;     /* console → on_line/ready_re, not stdout (batch, daemon) */
	uint64_t t_pattern;       /* the ready pattern matched (ns from t0), 0: not */
	instance_line_fn on_line; /* NULL: lines are only matched against ready_re */
	void *ctx;
	/* Opened by instance_init() when rec is set, before the sandbox forbids open(2): the
	 * record's memory figures at the end. */
	int statm_fd, smaps_fd, pagemap_fd;
	char *cmdline_buf; /* owned: an expanded or patched command line */
	unsigned len;
	char line[512];
};

/* In a freshly forked instance process: die with the launcher (and do not start if it has
 * gone already), take SIGTERM with on_term, ignore SIGINT/SIGHUP/SIGPIPE (the launcher
 * decides), restore the signal mask. Returns -1 if the launcher is gone. */
int instance_process_setup(pid_t launcher, void (*on_term)(int), const sigset_t *mask);
/* Close every descriptor except those in keep[] (and 0, 1, 2): a forked instance must not
 * hold the launcher's sockets or other instances' pipes. */
void instance_close_fds(const int *keep, unsigned n);

/* Prepare in for one VM of cfg: copies cfg (with capture_console: console quiet, no JSON, the
 * console goes through the line hook), expands "{id}" in its command line. Set the hooks and
 * flags above first. Returns 0 or -ENOMEM. */
int instance_init(struct instance *in, const struct vm_config *cfg, const struct kernel_image *k,
                  const struct blob *initrd, const struct kvm_shared *shared, unsigned id,
                  uint64_t t0);
/* Build the VM: every stage up to, not including, first_run (pipeline_run()). */
int instance_build(struct instance *in);
/* Warm pool: send NOTE_PREPARED, then block (no CPU) until the launcher writes a patch on
 * ctl_fd, and apply it: the request's t0 (stage marks restart from it), the id, the command
 * line tail (rewritten in guest RAM), the MAC. -EPIPE if the launcher closed ctl_fd. */
int instance_wait_go(struct instance *in, int ctl_fd);
/* After instance_build(): each of sigs[] (n of them) stops the VM cleanly from then on —
 * console flushed, outcome VM_SHUTDOWN, vm.stop_signal set — instead of ending the process
 * (the OCI runtime's SIGTERM). The handler only writes the signal number on a pipe, which
 * the run's watchdog thread (confined like the rest) reads. 0 or -errno. */
int instance_stop_on(struct instance *in, const int *sigs, unsigned n);
/* After instance_build() (and instance_wait_go()): take snapshot orders on ctl_fd while the VM
 * runs (the run's watchdog thread reads them); each ends with NOTE_SNAPSHOT and its result in
 * the record (snap_rc, snap_msg). */
void instance_control(struct instance *in, int ctl_fd);
/* Run the built VM until it stops; the console's last partial line is delivered too. */
void instance_run(struct instance *in);
/* Write the record (outcome, timings, console bytes, memory), send the exit note, _exit(0). */
_Noreturn void instance_finish(struct instance *in);
/* From a SIGTERM handler (async-signal-safe): record "stopped by the launcher", note, and
 * _exit(128 + sig). Does nothing if instance_finish() has already claimed the record. */
void instance_interrupted(struct instance *in, int sig, const char *why);

/* The end of a process that built a VM and is about to exit (single-VM CLI, the OCI
 * runtime's instance): if the VM was built, hand its destruction to a holder process and
 * undo the stages (design §4: the in-kernel irqchip's 15-23 ms of grace periods are paid by
 * the holder, after this process has gone; a split irqchip needs none). Call once, after
 * the last output. */
void instance_release(struct instance *in);

/* The launcher's shared KVM work (/dev/kvm opened and checked, KVM_GET_SUPPORTED_CPUID),
 * inherited by every instance it forks. -1 with a one-line reason in why. */
int instance_kvm_shared(struct kvm_shared *s, char *why, size_t why_len);
void instance_kvm_shared_free(struct kvm_shared *s);
/* The launcher reaped an instance's process: peak RSS, and a BATCH_LOST record for one that
 * died without writing its own (killed, or exited early). */
struct rusage;
void instance_reaped(struct batch_record *r, int status, const struct rusage *ru);

/* A launcher reading one of its instances' /proc/PID/FILE (stat, statm): up to len - 1 bytes,
 * NUL-terminated. Returns the length, or -1 (no such process, or an empty read). */
ssize_t instance_proc_read(pid_t pid, const char *file, char *buf, size_t len);

/* "{id}" in tmpl replaced by id; malloc()ed. (batch_expand_cmdline is this.) */
char *instance_expand_cmdline(const char *tmpl, unsigned id);

#endif

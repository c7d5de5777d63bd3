/* include/batch.h — batch mode: N instances of one configuration, one process each, and the
 * boot-time report.
 *
 * batch_run() (vmm/batch.c) forks one child per instance from a launcher that has done the
 * shared work; each child builds and runs its own VM and writes a struct batch_record into
 * memory shared with the launcher, then _exits (teardown happens in the kernel, off the
 * measured path). The report writers (vmm/batch_report.c, vmm/plot.c) only read a struct
 * batch_result: pure, unit-tested. All times are ns offsets from the batch request. */
#ifndef FASTVMM_BATCH_H
#define FASTVMM_BATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm.h"

struct cli;
struct kernel_image;
struct blob;

/* Outcomes beyond enum vm_outcome that only a launcher sees. */
enum {
	BATCH_NOT_STARTED = 100, /* never launched (the batch was interrupted first) */
	BATCH_INTERRUPTED,       /* stopped by the launcher (SIGINT/SIGTERM) */
	BATCH_LOST,              /* the instance's process died without a record */
	BATCH_NO_READY,          /* ran and exited 0 but never printed the --ready line */
};
const char *batch_outcome_name(int outcome);

enum ready_source { READY_NONE, READY_BOOT_TIMER, READY_PATTERN, READY_EXIT };
const char *batch_ready_source_name(int src);

struct batch_record {
	atomic_int claimed; /* the child's first writer (normal end or SIGTERM) owns the record */
	atomic_int written; /* record complete */
	int pid;
	bool ok;
	int outcome; /* enum vm_outcome or BATCH_* */
	int exit_status;
	int failed_stage; /* -1 if none */
	int ready_source;
	int signal;              /* the instance's process was killed by this signal (0: not) */
	uint64_t t_ns[ST_COUNT]; /* ST_READY is the resolved "ready" (see README) */
	uint64_t t_done;         /* record written */
	uint64_t console_bytes;
	/* Memory, KiB: resident at the end (from /proc/self/statm), of which file-backed
	 * (shared) pages, guest RAM pages resident (mincore), the peak (ru_maxrss). */
	uint64_t rss_kb, rss_file_kb, guest_kb, maxrss_kb;
	char reason[320];
	/* The last snapshot order's end (include/instance.h: NOTE_SNAPSHOT): 0 or -errno, and a
	 * one-line message either way. */
	int snap_rc;
	char snap_msg[320];
};

struct batch_result {
	unsigned n, started, parallel;
	struct batch_record *rec;
	uint64_t wall_ns;   /* request → the last instance's exit (or failure) */
	uint64_t reaped_ns; /* request → the launcher done: every record in (teardowns not waited
	                       for) */
	uint64_t launcher_rss_kb;
	int signal; /* the batch was interrupted by this signal (0: ran to the end) */
	const char *kernel;
	const char *log_dir; /* NULL: none kept */
	bool ready_pattern;  /* --ready given */
};

/* An instance's record is a success. */
bool batch_record_ok(const struct batch_record *r);
/* Resolve ready (boot timer, else the --ready line, else the exit) into r->t_ns[ST_READY]. */
void batch_resolve_ready(struct batch_record *r, uint64_t boot_timer, uint64_t pattern);

/* --cmdline with every "{id}" replaced by the instance number; malloc()ed, NULL if out of
 * memory. */
char *batch_expand_cmdline(const char *tmpl, unsigned id);

/* The human report (stdout) and the one JSON document (--json). */
void batch_report_text(const struct batch_result *b, FILE *out);
void batch_report_json(const struct batch_result *b, FILE *out);
/* Timeline as SVG: one row (<g class="row">) per launched instance, one colour per stage. */
void batch_plot_svg(const struct batch_result *b, FILE *out);

/* Run the batch described by cli (cli->n > 0) with the kernel and initrd already parsed;
 * t0 is the request time. Prints the report and returns the process exit status. */
int batch_run(const struct cli *cli, const struct kernel_image *k, const struct blob *initrd,
              uint64_t t0);

#endif

/* vmm/batch_report.c — the boot-time report of a batch: a compact table for people, one JSON
 * document for scripts (schema in README "Batch mode"). Reads a struct batch_result only. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "stats.h"

const char *batch_outcome_name(int o)
{
	switch (o) {
	case BATCH_NOT_STARTED:
		return "not-started";
	case BATCH_INTERRUPTED:
		return "interrupted";
	case BATCH_LOST:
		return "lost";
	case BATCH_NO_READY:
		return "no-ready-line";
	default:
		return vm_outcome_name((enum vm_outcome)o);
	}
}

const char *batch_ready_source_name(int src)
{
	static const char *const n[] = {"none", "boot_timer", "pattern", "exit"};
	return (unsigned)src < ARRAY_SIZE(n) ? n[src] : "?";
}

bool batch_record_ok(const struct batch_record *r)
{
	return r->ok;
}

void batch_resolve_ready(struct batch_record *r, uint64_t boot_timer, uint64_t pattern)
{
	if (boot_timer) {
		r->t_ns[ST_READY] = boot_timer;
		r->ready_source = READY_BOOT_TIMER;
	} else if (pattern) {
		r->t_ns[ST_READY] = pattern;
		r->ready_source = READY_PATTERN;
	} else if (r->t_ns[ST_EXIT]) {
		r->t_ns[ST_READY] = r->t_ns[ST_EXIT];
		r->ready_source = READY_EXIT;
	} else {
		r->t_ns[ST_READY] = 0;
		r->ready_source = READY_NONE;
	}
}

/* Stage st across the instances that reached it (launched ones only). */
static void stage_stats(const struct batch_result *b, int st, uint64_t *tmp, struct stats *s)
{
	size_t n = 0;
	for (unsigned i = 0; i < b->n; i++)
		if (b->rec[i].t_ns[st])
			tmp[n++] = b->rec[i].t_ns[st];
	stats_compute(tmp, n, s);
}

/* Per-instance memory figures, KiB, over instances that reported them. */
enum mem_kind { MEM_RSS, MEM_MAXRSS, MEM_VMM, MEM_GUEST };
static uint64_t mem_of(const struct batch_record *r, enum mem_kind k)
{
	switch (k) {
	case MEM_RSS:
		return r->rss_kb;
	case MEM_MAXRSS:
		return r->maxrss_kb;
	case MEM_VMM: {
		uint64_t anon = r->rss_kb > r->rss_file_kb ? r->rss_kb - r->rss_file_kb : 0;
		return anon > r->guest_kb ? anon - r->guest_kb : 0;
	}
	case MEM_GUEST:
		return r->guest_kb;
	}
	return 0;
}

static void mem_stats(const struct batch_result *b, enum mem_kind k, uint64_t *tmp, struct stats *s)
{
	size_t n = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_record *r = &b->rec[i];
		bool have = k == MEM_MAXRSS ? r->maxrss_kb != 0 : r->rss_kb != 0;
		if (have)
			tmp[n++] = mem_of(r, k);
	}
	stats_compute(tmp, n, s);
}

static unsigned count_ok(const struct batch_result *b)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < b->n; i++)
		ok += batch_record_ok(&b->rec[i]);
	return ok;
}

static double launches_per_s(const struct batch_result *b)
{
	return b->wall_ns ? (double)b->started * 1e9 / (double)b->wall_ns : 0;
}

/* Failures by cause: distinct outcome values among failed instances, in first-seen order. */
static unsigned failure_causes(const struct batch_result *b, int *cause, unsigned *count,
                               unsigned max)
{
	unsigned nc = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_record *r = &b->rec[i];
		if (batch_record_ok(r))
			continue;
		unsigned j = 0;
		while (j < nc && cause[j] != r->outcome)
			j++;
		if (j == nc) {
			if (nc == max)
				continue;
			cause[nc] = r->outcome;
			count[nc++] = 0;
		}
		count[j]++;
	}
	return nc;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void mib_or_kib(FILE *out, uint64_t kb)
{
	if (kb >= 10240)
		fprintf(out, "%.1f MiB", (double)kb / 1024.0);
	else
		fprintf(out, "%llu KiB", (unsigned long long)kb);
}

void batch_report_text(const struct batch_result *b, FILE *out)
{
	uint64_t *tmp = calloc(b->n ? b->n : 1, sizeof(*tmp));
	if (!tmp)
		return;
	unsigned ok = count_ok(b);
	fprintf(out, "fastvmm batch: %u x %s, %u in parallel%s\n", b->n,
	        b->kernel ? b->kernel : "?", b->parallel, b->signal ? " (interrupted)" : "");
	fprintf(out,
	        "%u/%u ok, %u launched; wall %.2f ms (request -> last exit); %.0f launches/s\n", ok,
	        b->n, b->started, ms(b->wall_ns), launches_per_s(b));
	fprintf(out, "\n%-13s %7s %9s %9s %9s %9s   (ms from the request)\n", "stage", "reached",
	        "p50", "p90", "p99", "max");
	for (int st = 0; st < ST_COUNT; st++) {
		struct stats s;
		stage_stats(b, st, tmp, &s);
		if (!s.n) {
			fprintf(out, "%-13s %7u %9s %9s %9s %9s\n", vm_stage_names[st], 0u, "-",
			        "-", "-", "-");
			continue;
		}
		fprintf(out, "%-13s %7zu %9.3f %9.3f %9.3f %9.3f\n", vm_stage_names[st], s.n,
		        ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max));
	}
	struct stats rd, ex;
	stage_stats(b, ST_READY, tmp, &rd);
	stage_stats(b, ST_EXIT, tmp, &ex);
	fprintf(out,
	        "\nspread, first to last: ready %.3f ms (%.3f -> %.3f), exit %.3f ms (%.3f -> "
	        "%.3f)\n",
	        ms(rd.spread), ms(rd.min), ms(rd.max), ms(ex.spread), ms(ex.min), ms(ex.max));

	int cause[16];
	unsigned count[16];
	unsigned nc = failure_causes(b, cause, count, 16);
	fprintf(out, "failures: ");
	if (!nc)
		fprintf(out, "none");
	for (unsigned j = 0; j < nc; j++)
		fprintf(out, "%s%s %u", j ? ", " : "", batch_outcome_name(cause[j]), count[j]);
	fputc('\n', out);
	unsigned shown = 0;
	for (unsigned i = 0; i < b->n && shown < 10; i++) {
		const struct batch_record *r = &b->rec[i];
		if (batch_record_ok(r) || r->outcome == BATCH_NOT_STARTED)
			continue;
		fprintf(out, "  vm %u: %s (exit status %d)%s%s\n", i,
		        batch_outcome_name(r->outcome), r->exit_status, r->reason[0] ? ": " : "",
		        r->reason);
		shown++;
	}

	struct stats rss, peak, vmm, guest;
	mem_stats(b, MEM_RSS, tmp, &rss);
	mem_stats(b, MEM_MAXRSS, tmp, &peak);
	mem_stats(b, MEM_VMM, tmp, &vmm);
	mem_stats(b, MEM_GUEST, tmp, &guest);
	if (!rss.n) {
		fprintf(out,
		        "memory per instance: not measured (no instance finished); peak RSS max ");
		mib_or_kib(out, peak.max);
		fputc('\n', out);
	} else {
		fprintf(out, "memory per instance: RSS p50 ");
		mib_or_kib(out, rss.p50);
		fprintf(out, " (max ");
		mib_or_kib(out, rss.max);
		fprintf(out, "), peak RSS max ");
		mib_or_kib(out, peak.max);
		fprintf(out, "; VMM beyond guest pages p50 ");
		mib_or_kib(out, vmm.p50);
		fprintf(out, "; guest pages p50 ");
		mib_or_kib(out, guest.p50);
		fprintf(out, "; launcher ");
		mib_or_kib(out, b->launcher_rss_kb);
		fputc('\n', out);
	}
	fprintf(out, "launcher done at %.2f ms (every record in)\n", ms(b->reaped_ns));
	if (b->log_dir)
		fprintf(out, "consoles: %s/vm-<i>.log\n", b->log_dir);
	free(tmp);
}

static void json_us(FILE *out, uint64_t ns)
{
	if (ns)
		fprintf(out, "%.1f", (double)ns / 1000.0);
	else
		fputs("null", out);
}

static void json_stats(FILE *out, const struct stats *s, bool ns)
{
	double d = ns ? 1000.0 : 1.0;
	fprintf(out,
	        "{\"n\":%zu,\"min\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,"
	        "\"mean\":%.1f}",
	        s->n, (double)s->min / d, (double)s->p50 / d, (double)s->p90 / d,
	        (double)s->p99 / d, (double)s->max / d, s->mean / d);
}

void batch_report_json(const struct batch_result *b, FILE *out)
{
	uint64_t *tmp = calloc(b->n ? b->n : 1, sizeof(*tmp));
	if (!tmp)
		return;
	fprintf(out, "{\"wall_us\":%.1f,\"reaped_us\":%.1f,\"n\":%u,\"parallel\":%u,\"kernel\":",
	        (double)b->wall_ns / 1000.0, (double)b->reaped_ns / 1000.0, b->n, b->parallel);
	json_put_string(out, b->kernel ? b->kernel : "");
	fputs(",\"interrupted\":", out);
	if (b->signal)
		fprintf(out, "%d", b->signal);
	else
		fputs("false", out);
	fputs(",\"log_dir\":", out);
	if (b->log_dir)
		json_put_string(out, b->log_dir);
	else
		fputs("null", out);
	fputs(",\"instances\":[", out);
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_record *r = &b->rec[i];
		fprintf(out, "%s{\"id\":%u,\"ok\":%s,\"exit_status\":%d,\"outcome\":", i ? "," : "",
		        i, batch_record_ok(r) ? "true" : "false", r->exit_status);
		json_put_string(out, batch_outcome_name(r->outcome));
		fputs(",\"reason\":", out);
		json_put_string(out, r->reason);
		fputs(",\"failed_stage\":", out);
		if (r->failed_stage >= 0 && r->failed_stage < ST_COUNT)
			json_put_string(out, vm_stage_names[r->failed_stage]);
		else
			fputs("null", out);
		fputs(",\"ready_source\":", out);
		json_put_string(out, batch_ready_source_name(r->ready_source));
		fprintf(out,
		        ",\"signal\":%d,\"console_bytes\":%llu,\"rss_kb\":%llu,\"max_rss_kb\":%llu,"
		        "\"vmm_kb\":%llu,\"guest_kb\":%llu,\"stages\":{",
		        r->signal, (unsigned long long)r->console_bytes,
		        (unsigned long long)r->rss_kb, (unsigned long long)r->maxrss_kb,
		        (unsigned long long)mem_of(r, MEM_VMM), (unsigned long long)r->guest_kb);
		for (int st = 0; st < ST_COUNT; st++) {
			fprintf(out, "%s\"%s\":", st ? "," : "", vm_stage_names[st]);
			json_us(out, r->t_ns[st]);
		}
		fputs("}}", out);
	}
	unsigned ok = count_ok(b);
	fprintf(out,
	        "],\"summary\":{\"instances\":%u,\"launched\":%u,\"ok\":%u,\"failed\":%u,"
	        "\"launches_per_s\":%.1f,\"failures\":{",
	        b->n, b->started, ok, b->n - ok, launches_per_s(b));
	int cause[16];
	unsigned count[16];
	unsigned nc = failure_causes(b, cause, count, 16);
	for (unsigned j = 0; j < nc; j++) {
		fputs(j ? "," : "", out);
		json_put_string(out, batch_outcome_name(cause[j]));
		fprintf(out, ":%u", count[j]);
	}
	fputs("},\"stages_us\":{", out);
	for (int st = 0; st < ST_COUNT; st++) {
		struct stats s;
		stage_stats(b, st, tmp, &s);
		fprintf(out, "%s\"%s\":", st ? "," : "", vm_stage_names[st]);
		json_stats(out, &s, true);
	}
	struct stats rd, ex;
	stage_stats(b, ST_READY, tmp, &rd);
	stage_stats(b, ST_EXIT, tmp, &ex);
	fprintf(out, "},\"spread_us\":{\"ready\":%.1f,\"exit\":%.1f},\"memory_kb\":{",
	        (double)rd.spread / 1000.0, (double)ex.spread / 1000.0);
	static const struct {
		const char *name;
		enum mem_kind k;
	} mk[] = {
	        {"rss", MEM_RSS}, {"max_rss", MEM_MAXRSS}, {"vmm", MEM_VMM}, {"guest", MEM_GUEST}};
	for (size_t j = 0; j < ARRAY_SIZE(mk); j++) {
		struct stats s;
		mem_stats(b, mk[j].k, tmp, &s);
		fprintf(out, "%s\"%s\":", j ? "," : "", mk[j].name);
		json_stats(out, &s, false);
	}
	fprintf(out, ",\"launcher_rss\":%llu}}}", (unsigned long long)b->launcher_rss_kb);
	free(tmp);
}

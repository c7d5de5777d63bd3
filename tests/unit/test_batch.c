/* Unit tests: the batch report writers (JSON, text, SVG) on synthetic records, ready
 * resolution and the {id} command-line expansion. Well-formedness is checked structurally
 * here; tests/boot/t_batch.sh also parses real output with python3. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "cli_parse.h"

#define N 7

static struct batch_record rec[N];

static struct batch_result make(void)
{
	memset(rec, 0, sizeof(rec));
	for (unsigned i = 0; i < N; i++) {
		struct batch_record *r = &rec[i];
		for (int st = 0; st < ST_COUNT; st++)
			r->t_ns[st] = 1000000ULL * (i + 1) + 100000ULL * (uint64_t)st;
		r->ok = true;
		r->outcome = VM_EXITED;
		r->failed_stage = -1;
		r->rss_kb = 1500;
		r->rss_file_kb = 1200;
		r->guest_kb = 48;
		r->maxrss_kb = 1600;
		snprintf(r->reason, sizeof(r->reason), "guest exited with code 0");
	}
	/* one crash, with characters JSON and XML must escape */
	rec[3].ok = false;
	rec[3].outcome = VM_CRASHED;
	rec[3].exit_status = 125;
	rec[3].t_ns[ST_READY] = 0;
	snprintf(rec[3].reason, sizeof(rec[3].reason), "crash \"quoted\" <tag> & \\ \n");
	/* one never launched */
	memset(&rec[6], 0, sizeof(rec[6]));
	rec[6].outcome = BATCH_NOT_STARTED;
	rec[6].failed_stage = -1;
	return (struct batch_result){.n = N,
	                             .started = N - 1,
	                             .parallel = 2,
	                             .rec = rec,
	                             .wall_ns = 7000000,
	                             .reaped_ns = 9000000,
	                             .kernel = "k<&>.elf",
	                             .log_dir = "/tmp/x"};
}

static char *render(void (*fn)(const struct batch_result *, FILE *), const struct batch_result *b)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(b, f);
	fclose(f);
	return buf;
}

static unsigned count(const char *s, const char *needle)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Brackets and braces balance outside strings, strings close, no raw control characters. */
static void assert_json_shape(const char *s)
{
	int depth = 0;
	bool in_str = false;
	for (const char *p = s; *p; p++) {
		assert_true((unsigned char)*p >= 0x20);
		if (in_str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"')
			in_str = true;
		else if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			assert_true(--depth >= 0);
		if (depth == 0)
			assert_true(p[1] == 0); /* one document, nothing after it */
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
}

static void json_report(void **state)
{
	(void)state;
	struct batch_result b = make();
	char *s = render(batch_report_json, &b);
	assert_json_shape(s);
	assert_int_equal(count(s, "\"id\":"), N);
	assert_int_equal(count(s, "\"stages\":{"), N);
	assert_int_equal(count(s, "\"first_run\":"), N + 1); /* + the summary's stages_us */
	assert_non_null(strstr(s, "\"wall_us\":7000.0"));
	assert_non_null(strstr(s, "\"ok\":5,\"failed\":2"));
	assert_non_null(strstr(s, "\"failures\":{\"crashed\":1,\"not-started\":1}"));
	assert_non_null(strstr(s, "crash \\\"quoted\\\" <tag> & \\\\ \\u000a"));
	assert_non_null(strstr(s, "\"ready\":null")); /* the crashed one */
	assert_non_null(strstr(s, "\"summary\":{"));
	free(s);
}

static void text_report(void **state)
{
	(void)state;
	struct batch_result b = make();
	char *s = render(batch_report_text, &b);
	assert_non_null(strstr(s, "5/7 ok, 6 launched"));
	assert_non_null(strstr(s, "failures: crashed 1, not-started 1"));
	assert_non_null(strstr(s, "vm 3: crashed (exit status 125)"));
	assert_null(strstr(s, "vm 6:")); /* never launched: counted, not listed */
	assert_non_null(strstr(s, "consoles: /tmp/x/vm-<i>.log"));
	/* ready: 6 launched, one without ready → 5; spread first→last = 4 ms between vm 0 and 5 */
	assert_non_null(strstr(s, "\nready               5"));
	char want[64]; /* make(): stage st of vm i at (i + 1) ms + st * 0.1 ms */
	snprintf(want, sizeof(want), "ready 5.000 ms (%.3f -> %.3f)", 1 + 0.1 * ST_READY,
	         6 + 0.1 * ST_READY);
	assert_non_null(strstr(s, want));
	free(s);
}

static void svg_plot(void **state)
{
	(void)state;
	struct batch_result b = make();
	char *s = render(batch_plot_svg, &b);
	assert_int_equal(count(s, "<g class=\"row\""), N - 1); /* launched instances only */
	assert_int_equal(count(s, "<g "), count(s, "</g>"));
	assert_int_equal(count(s, "<svg "), 1);
	assert_int_equal(count(s, "</svg>"), 1);
	assert_int_equal(count(s, "<text"), count(s, "</text>"));
	assert_int_equal(count(s, "<title>"), count(s, "</title>"));
	assert_null(strstr(s, "k<&>")); /* escaped */
	assert_non_null(strstr(s, "k&lt;&amp;&gt;.elf"));
	for (int st = 0; st < ST_COUNT; st++) /* the legend names every stage */
		assert_non_null(strstr(s, vm_stage_names[st]));
	free(s);
	b.n = 0;
	s = render(batch_plot_svg, &b);
	assert_int_equal(count(s, "<g class=\"row\""), 0);
	assert_non_null(strstr(s, "</svg>"));
	free(s);
}

static void ready_resolution(void **state)
{
	(void)state;
	struct batch_record r = {0};
	r.t_ns[ST_EXIT] = 900;
	batch_resolve_ready(&r, 300, 200);
	assert_int_equal(r.t_ns[ST_READY], 300); /* the boot timer wins even when later */
	assert_int_equal(r.ready_source, READY_BOOT_TIMER);
	batch_resolve_ready(&r, 0, 200);
	assert_int_equal(r.t_ns[ST_READY], 200);
	assert_int_equal(r.ready_source, READY_PATTERN);
	batch_resolve_ready(&r, 0, 0);
	assert_int_equal(r.t_ns[ST_READY], 900);
	assert_int_equal(r.ready_source, READY_EXIT);
	r.t_ns[ST_EXIT] = 0;
	batch_resolve_ready(&r, 0, 0);
	assert_int_equal(r.t_ns[ST_READY], 0);
	assert_string_equal(batch_ready_source_name(r.ready_source), "none");
}

static void cmdline_ids(void **state)
{
	(void)state;
	char *s = batch_expand_cmdline("id={id} crash=3 x{id}{id}", 42);
	assert_string_equal(s, "id=42 crash=3 x4242");
	free(s);
	s = batch_expand_cmdline("no ids {i} {id", 1);
	assert_string_equal(s, "no ids {i} {id");
	free(s);
	s = batch_expand_cmdline("", 9999);
	assert_string_equal(s, "");
	free(s);
}

/* The batch flags of the command line (vmm/config.c). */
static void cli_batch(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-n", "30"), CONFIG_RUN);
	assert_int_equal(c.n, 30);
	assert_int_equal(c.parallel, 0);
	assert_false(c.console);
	assert_int_equal(PARSE("--instances=4", "--parallel", "2", "--log-dir", "d", "--ready",
	                       "^login:", "--plot", "p.svg", "--json"),
	                 CONFIG_RUN);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.parallel, 2);
	assert_string_equal(c.log_dir, "d");
	assert_string_equal(c.ready, "^login:");
	assert_string_equal(c.plot, "p.svg");
	assert_int_equal(PARSE("-n", "10000", "--console"), CONFIG_RUN);
	assert_true(c.console);
	assert_int_equal(PARSE("--kernel", "k"), CONFIG_RUN);
	assert_int_equal(c.n, 0); /* no -n: one VM, as before */
	REJ("-n: '0' is not a number of instances from 1 to 10000", "-n", "0");
	REJ("-n: '-3' is not a number of instances from 1 to 10000", "-n", "-3");
	REJ("-n: '10001' is not a number of instances from 1 to 10000", "-n", "10001");
	REJ("-n: '99999999999999999999' is not a number of instances from 1 to 10000", "-n",
	    "99999999999999999999");
	REJ("-n: 'x' is not a number of instances from 1 to 10000", "-n", "x");
	REJ("--parallel: '0' is not a number from 1 to 10000", "-n", "3", "--parallel", "0");
	REJ("--parallel: only with -n (batch mode)", "--parallel", "2");
	REJ("--console: only with -n (batch mode)", "--console");
	REJ("--ready: only with -n (batch mode)", "--ready", "x");
	REJ("--ready: empty pattern", "-n", "2", "--ready", "");
	REJ("--console: cannot be combined with --log-dir", "-n", "2", "--console", "--log-dir",
	    "d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(json_report), cmocka_unit_test(text_report),
	        cmocka_unit_test(svg_plot),    cmocka_unit_test(ready_resolution),
	        cmocka_unit_test(cmdline_ids), cmocka_unit_test(cli_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

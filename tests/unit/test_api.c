/* Unit tests: the daemon's protocol half (vmm/api.c): routes, request and template
 * validation, and `fastvmm serve` option parsing (vmm/serve.c serve_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include "api.h"
#include "layout.h"
#include "serve.h"

static struct action a;
static char err[400];

static int parse(const char *method, const char *path, const char *body)
{
	api_action_free(&a);
	err[0] = 0;
	return api_parse(&a, method, path, body, body ? strlen(body) : 0, err, sizeof(err));
}

static void routes(void **state)
{
	(void)state;
	assert_int_equal(parse("GET", "/metrics", NULL), 0);
	assert_int_equal(a.kind, ACT_METRICS);
	assert_int_equal(parse("GET", "/templates", NULL), 0);
	assert_int_equal(a.kind, ACT_TEMPLATE_LIST);
	assert_int_equal(parse("GET", "/templates/", NULL), 0); /* a trailing slash is the same */
	assert_int_equal(a.kind, ACT_TEMPLATE_LIST);
	assert_int_equal(parse("GET", "/templates/null-1.2_x", NULL), 0);
	assert_int_equal(a.kind, ACT_TEMPLATE_GET);
	assert_string_equal(a.name, "null-1.2_x");
	assert_int_equal(parse("DELETE", "/templates/t", NULL), 0);
	assert_int_equal(a.kind, ACT_TEMPLATE_DELETE);
	assert_int_equal(parse("GET", "/vms", NULL), 0);
	assert_int_equal(a.kind, ACT_VM_LIST);
	assert_int_equal(parse("GET", "/vms/42", NULL), 0);
	assert_int_equal(a.kind, ACT_VM_GET);
	assert_int_equal(a.id, 42);
	assert_int_equal(parse("GET", "/vms/42/console", NULL), 0);
	assert_int_equal(a.kind, ACT_VM_CONSOLE);
	assert_int_equal(parse("DELETE", "/vms/7", NULL), 0);
	assert_int_equal(a.kind, ACT_VM_DELETE);
	assert_int_equal(parse("GET", "/metrics?x=1", NULL), 0); /* a query string is ignored */
	/* Unknown paths, bad names and ids: 404; wrong methods: 405. */
	assert_int_equal(parse("GET", "/", NULL), 404);
	assert_int_equal(parse("GET", "/vmsx", NULL), 404);
	assert_int_equal(parse("GET", "/templates/.hidden", NULL), 404);
	assert_int_equal(parse("GET", "/templates/a/b", NULL), 404);
	assert_int_equal(parse("GET", "/templates/..", NULL), 404);
	assert_int_equal(parse("GET", "/vms/abc", NULL), 404);
	assert_int_equal(parse("GET", "/vms/-1", NULL), 404);
	assert_int_equal(parse("GET", "/vms/007", NULL), 404);
	assert_int_equal(parse("GET", "/vms/99999999999999999999", NULL), 404);
	assert_int_equal(parse("GET", "/vms/1/consolex", NULL), 404);
	char longp[400];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(parse("GET", longp, NULL), 404);
	assert_int_equal(parse("POST", "/metrics", NULL), 405);
	assert_int_equal(parse("PUT", "/vms", "{}"), 405);
	assert_int_equal(parse("POST", "/templates/x", "{}"), 405);
	assert_int_equal(parse("PUT", "/vms/1", "{}"), 405);
	assert_int_equal(parse("HEAD", "/templates", NULL), 405);
	assert_non_null(strstr(err, "only GET"));
}

static void names(void **state)
{
	(void)state;
	assert_true(api_name_ok("a"));
	assert_true(api_name_ok("Debian-6.1_cloud"));
	assert_false(api_name_ok(""));
	assert_false(api_name_ok(".a"));
	assert_false(api_name_ok("a/b"));
	assert_false(api_name_ok("a b"));
	assert_false(api_name_ok("é"));
	char n[70];
	memset(n, 'x', 64);
	n[64] = 0;
	assert_true(api_name_ok(n));
	n[64] = 'x';
	n[65] = 0;
	assert_false(api_name_ok(n));
}

static void template_ok(void **state)
{
	(void)state;
	assert_int_equal(
	        parse("PUT", "/templates/t",
	              "{\"kernel\": \"/k\", \"initrd\": \"/i\", \"cmdline\": \"a b\", "
	              "\"mem\": \"64M\", \"cpus\": 2, \"pool\": 3, \"timeout_ms\": 500, "
	              "\"ready\": \"^up$\", \"disks\": [{\"path\": \"/d\", \"cow\": true}, "
	              "{\"path\": \"/e\", \"ro\": true}], \"nets\": [{}]}"),
	        0);
	assert_int_equal(a.kind, ACT_TEMPLATE_PUT);
	const struct template_spec *t = &a.tmpl;
	assert_string_equal(t->kernel, "/k");
	assert_string_equal(t->initrd, "/i");
	assert_string_equal(t->cmdline, "a b");
	assert_string_equal(t->ready, "^up$");
	assert_int_equal(t->mem, 64 * MiB);
	assert_int_equal(t->cpus, 2);
	assert_int_equal(t->pool, 3);
	assert_int_equal(t->timeout_ms, 500);
	assert_int_equal(t->ndisks, 2);
	assert_string_equal(t->disk[0].path, "/d");
	assert_true(t->disk[0].cow);
	assert_false(t->disk[0].ro);
	assert_true(t->disk[1].ro);
	assert_int_equal(t->nnets, 1);
	assert_null(t->tap[0]);
	/* Defaults; mem as an integer is MiB. */
	assert_int_equal(parse("PUT", "/templates/t", "{\"kernel\": \"/k\", \"mem\": 32}"), 0);
	assert_int_equal(a.tmpl.mem, 32 * MiB);
	assert_int_equal(a.tmpl.cpus, 1);
	assert_int_equal(a.tmpl.pool, 0);
	assert_null(a.tmpl.cmdline);
	assert_int_equal(parse("PUT", "/templates/t", "{\"kernel\": \"/k\"}"), 0);
	assert_int_equal(a.tmpl.mem, 128 * MiB);
	assert_null(a.tmpl.snapshot);
	/* A snapshot's clones: no kernel, and what the machine is comes from the snapshot. */
	assert_int_equal(parse("PUT", "/templates/s",
	                       "{\"snapshot\": \"/snap\", \"pool\": 2, \"ready\": \"^count=9$\", "
	                       "\"timeout_ms\": 900}"),
	                 0);
	assert_string_equal(a.tmpl.snapshot, "/snap");
	assert_null(a.tmpl.kernel);
	assert_int_equal(a.tmpl.pool, 2);
	assert_int_equal(a.tmpl.timeout_ms, 900);
}

/* Each of these bodies is a 400 whose reason contains the given text. */
static const struct {
	const char *body, *why;
} bad_templates[] = {
        {"", "body is required"},
        {"{", "malformed JSON"},
        {"{\"kernel\": \"/k\",}", "malformed JSON"},
        {"[]", "must be a JSON object"},
        {"\"kernel\"", "must be a JSON object"},
        {"{\"kernel\": \"/k\", \"kernel\": \"/j\"}", "malformed JSON"}, /* duplicate key */
        {"{}", "kernel: required (a path on the daemon's host), or snapshot"},
        {"{\"snapshot\": \"\"}", "snapshot: empty directory name"},
        {"{\"snapshot\": 7}", "snapshot: must be a string"},
        {"{\"snapshot\": \"/s\", \"kernel\": \"/k\"}", "kernel: not with snapshot"},
        {"{\"snapshot\": \"/s\", \"mem\": 64}", "mem: not with snapshot (the snapshot fixes"},
        {"{\"snapshot\": \"/s\", \"cmdline\": \"x\"}", "cmdline: not with snapshot"},
        {"{\"snapshot\": \"/s\", \"disks\": []}", "disks: not with snapshot"},
        {"{\"snapshot\": \"/s\", \"nets\": [{}]}", "nets: not with snapshot"},
        {"{\"kernel\": \"\"}", "kernel: required"},
        {"{\"kernel\": 5}", "kernel: must be a string"},
        {"{\"kernel\": \"/k\\u0000x\"}", "is not allowed"},
        {"{\"kernel\": \"/k\", \"kernal\": 1}", "unknown field 'kernal'"},
        {"{\"kernel\": \"/k\", \"cpus\": \"2\"}", "cpus: must be an integer"},
        {"{\"kernel\": \"/k\", \"cpus\": 0}", "cpus: 0 is out of range"},
        {"{\"kernel\": \"/k\", \"cpus\": 65}", "out of range"},
        {"{\"kernel\": \"/k\", \"cpus\": 1.5}", "must be an integer"},
        {"{\"kernel\": \"/k\", \"pool\": -1}", "pool: -1 is out of range"},
        {"{\"kernel\": \"/k\", \"mem\": \"12Q\"}", "mem: '12Q' is not a size"},
        {"{\"kernel\": \"/k\", \"mem\": \"1M\"}", "between 2 MiB and 1 TiB"},
        {"{\"kernel\": \"/k\", \"mem\": \"4097K\"}", "multiple of 4 KiB"},
        {"{\"kernel\": \"/k\", \"mem\": 0}", "mem: 0 MiB is out of range"},
        {"{\"kernel\": \"/k\", \"mem\": true}", "mem: must be a size string"},
        {"{\"kernel\": \"/k\", \"ready\": \"(\"}", "ready: '('"},
        {"{\"kernel\": \"/k\", \"disks\": {}}", "disks: must be an array"},
        {"{\"kernel\": \"/k\", \"disks\": [\"/d\"]}", "disks[0]: must be an object"},
        {"{\"kernel\": \"/k\", \"disks\": [{}]}", "disks[0].path: required"},
        {"{\"kernel\": \"/k\", \"disks\": [{\"path\": \"/d\", \"rw\": true}]}",
         "unknown field 'rw'"},
        {"{\"kernel\": \"/k\", \"disks\": [{\"path\": \"/d\", \"ro\": 1}]}",
         "ro: must be true or false"},
        {"{\"kernel\": \"/k\", \"disks\": [{\"path\": \"/d\", \"ro\": true, \"cow\": true}]}",
         "exclude each other"},
        {"{\"kernel\": \"/k\", \"disks\": [{\"path\":\"a\"},{\"path\":\"a\"},{\"path\":\"a\"},"
         "{\"path\":\"a\"},{\"path\":\"a\"},{\"path\":\"a\"},{\"path\":\"a\"},{\"path\":\"a\"},"
         "{\"path\":\"a\"}]}",
         "more than 8"},
        {"{\"kernel\": \"/k\", \"nets\": [{\"tap\": \"a-very-long-tap-name\"}]}", "longer than 15"},
        {"{\"kernel\": \"/k\", \"pool\": 1, \"nets\": [{\"tap\": \"t0\"}]}",
         "a pooled template cannot name its tap"},
        {"{\"kernel\": \"/k\", \"timeout_ms\": -5}", "timeout_ms"},
};

static void template_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_templates) / sizeof(bad_templates[0]); i++) {
		int st = parse("PUT", "/templates/t", bad_templates[i].body);
		if (st != 400 || !strstr(err, bad_templates[i].why))
			fail_msg("body %s: status %d, reason '%s', want 400 with '%s'",
			         bad_templates[i].body, st, err, bad_templates[i].why);
	}
	/* An over-long cmdline: the room for a request's tail is kept. */
	size_t n = CMDLINE_MAX;
	char *b = malloc(n + 64);
	int k = snprintf(b, n + 64, "{\"kernel\": \"/k\", \"cmdline\": \"");
	memset(b + k, 'c', n - 2048);
	strcpy(b + k + n - 2048, "\"}");
	assert_int_equal(parse("PUT", "/templates/t", b), 400);
	assert_non_null(strstr(err, "cmdline:"));
	free(b);
}

static void vm_request(void **state)
{
	(void)state;
	assert_int_equal(parse("POST", "/vms",
	                       "{\"template\": \"t\", \"cmdline_append\": \"exit=3\", \"wait\": "
	                       "\"ready\", \"timeout_ms\": 2000, \"mac\": \"52:54:00:00:00:01\"}"),
	                 0);
	assert_int_equal(a.kind, ACT_VM_CREATE);
	assert_string_equal(a.vm.template_name, "t");
	assert_string_equal(a.vm.cmdline_append, "exit=3");
	assert_int_equal(a.vm.wait, WAIT_READY);
	assert_true(a.vm.timeout_set);
	assert_int_equal(a.vm.timeout_ms, 2000);
	assert_true(a.vm.mac_set);
	assert_int_equal(a.vm.mac[5], 1);
	assert_int_equal(parse("POST", "/vms", "{\"template\": \"t\"}"), 0);
	assert_int_equal(a.vm.wait, WAIT_NONE);
	assert_false(a.vm.timeout_set);
	assert_false(a.vm.mac_set);
	assert_string_equal(a.vm.snapshot, "");
	/* A one-off clone of a snapshot directory, without a template. */
	assert_int_equal(
	        parse("POST", "/vms",
	              "{\"snapshot\": \"/snap\", \"wait\": \"exit\", \"timeout_ms\": 900}"),
	        0);
	assert_string_equal(a.vm.snapshot, "/snap");
	assert_string_equal(a.vm.template_name, "");
	assert_int_equal(a.vm.wait, WAIT_EXIT);
	assert_int_equal(a.vm.timeout_ms, 900);
	for (int w = WAIT_NONE; w <= WAIT_EXIT; w++) {
		char body[80];
		snprintf(body, sizeof(body), "{\"template\": \"t\", \"wait\": \"%s\"}",
		         api_wait_name((enum wait_for)w));
		assert_int_equal(parse("POST", "/vms", body), 0);
		assert_int_equal(a.vm.wait, w);
	}
	static const struct {
		const char *body, *why;
	} bad[] = {
	        {"{}", "template: required (or snapshot: a snapshot directory)"},
	        {"{\"snapshot\": \"\"}", "snapshot: empty directory name"},
	        {"{\"snapshot\": [1]}", "snapshot: must be a string"},
	        {"{\"snapshot\": \"/s\", \"template\": \"t\"}", "template: not with snapshot"},
	        {"{\"snapshot\": \"/s\", \"cmdline_append\": \"x\"}",
	         "cmdline_append: not with snapshot (the guest has booted already)"},
	        {"{\"snapshot\": \"/s\", \"mac\": \"52:54:00:00:00:01\"}",
	         "mac: not with snapshot"},
	        {"{\"template\": 1}", "template: must be a string"},
	        {"{\"template\": \"../x\"}", "not a template name"},
	        {"{\"template\": \"t\", \"wait\": \"soon\"}", "wait: want one of"},
	        {"{\"template\": \"t\", \"wait\": 1}", "wait: must be a string"},
	        {"{\"template\": \"t\", \"timeout_ms\": \"1\"}", "must be an integer"},
	        {"{\"template\": \"t\", \"mac\": \"01:00:00:00:00:00\"}", "mac: want a unicast"},
	        {"{\"template\": \"t\", \"mac\": \"zz\"}", "mac: want a unicast"},
	        {"{\"template\": \"t\", \"cmd\": \"x\"}", "unknown field 'cmd'"},
	        {"{\"template\": \"t\", \"cmdline_append\": [\"x\"]}", "must be a string"},
	        {"null", "must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = parse("POST", "/vms", bad[i].body);
		if (st != 400 || !strstr(err, bad[i].why))
			fail_msg("body %s: status %d, reason '%s', want 400 with '%s'", bad[i].body,
			         st, err, bad[i].why);
	}
	char tail[PATCH_CMDLINE_MAX + 40];
	int k = snprintf(tail, sizeof(tail), "{\"template\": \"t\", \"cmdline_append\": \"");
	memset(tail + k, 'x', PATCH_CMDLINE_MAX);
	strcpy(tail + k + PATCH_CMDLINE_MAX, "\"}");
	assert_int_equal(parse("POST", "/vms", tail), 400);
	assert_non_null(strstr(err, "cmdline_append:"));
}

/* PUT /vms/{id}/snapshot: a name under the daemon's --snapshot-root, never a path. */
static void snapshot_order(void **state)
{
	(void)state;
	assert_int_equal(parse("PUT", "/vms/3/snapshot", "{\"name\": \"s-1.a_b\"}"), 0);
	assert_int_equal(a.kind, ACT_VM_SNAPSHOT);
	assert_int_equal(a.id, 3);
	assert_string_equal(a.name, "s-1.a_b");
	assert_false(a.snap_stop);
	assert_int_equal(parse("PUT", "/vms/3/snapshot/", "{\"name\": \"s\", \"stop\": true}"), 0);
	assert_true(a.snap_stop);
	assert_int_equal(parse("GET", "/vms/3/snapshot", NULL), 405);
	assert_non_null(strstr(err, "only PUT"));
	assert_int_equal(parse("PUT", "/vms/x/snapshot", "{\"name\": \"s\"}"), 404);
	assert_int_equal(parse("PUT", "/vms/3/snapshots", "{\"name\": \"s\"}"), 404);
	assert_int_equal(parse("PUT", "/vms/3/snapshot", NULL), 400);
	assert_int_equal(parse("PUT", "/vms/3/snapshot", "{}"), 400);
	assert_non_null(strstr(err, "name: required"));
	static const char *const bad[] = {"../etc", "a/b", ".hidden", "", "/abs"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[80];
		snprintf(body, sizeof(body), "{\"name\": \"%s\"}", bad[i]);
		assert_int_equal(parse("PUT", "/vms/3/snapshot", body), 400);
		assert_non_null(strstr(err, "not a snapshot name"));
	}
	assert_int_equal(parse("PUT", "/vms/3/snapshot", "{\"name\": 5}"), 400);
	assert_int_equal(parse("PUT", "/vms/3/snapshot", "{\"name\": \"s\", \"stop\": 1}"), 400);
	assert_int_equal(parse("PUT", "/vms/3/snapshot", "{\"name\": \"s\", \"dir\": \"/x\"}"),
	                 400);
	assert_non_null(strstr(err, "unknown field 'dir'"));
	char longname[100] = "{\"name\": \"";
	memset(longname + 10, 'n', 65);
	strcpy(longname + 75, "\"}");
	assert_int_equal(parse("PUT", "/vms/3/snapshot", longname), 400);
}

static void error_json(void **state)
{
	(void)state;
	char *s = api_error_json("a \"quoted\"\nline");
	assert_string_equal(s, "{\"error\":\"a \\\"quoted\\\"\\nline\"}");
	free(s);
}

static int sparse(struct serve_opts *o, const char *args)
{
	static char buf[512];
	char *argv[32];
	int argc = 0;
	snprintf(buf, sizeof(buf), "serve %s", args);
	for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	err[0] = 0;
	return serve_parse(o, argc, argv, err, sizeof(err));
}

static void serve_options(void **state)
{
	(void)state;
	struct serve_opts o;
	assert_int_equal(sparse(&o, "--socket /s"), 0);
	assert_string_equal(o.socket_path, "/s");
	assert_int_equal(o.max_vms, 64);
	assert_int_equal(o.max_body, 64 * 1024);
	assert_int_equal(o.grace_ms, 1000);
	assert_int_equal(sparse(&o, "--socket /s --max-vms 5 --max-body 1M --grace 0.25 "
	                            "--max-connections 10 --conn-timeout 3 -v"),
	                 0);
	assert_int_equal(o.max_vms, 5);
	assert_int_equal(o.max_body, MiB);
	assert_int_equal(o.grace_ms, 250);
	assert_int_equal(o.max_conns, 10);
	assert_int_equal(o.conn_timeout_s, 3);
	assert_int_equal(o.verbosity, 2);
	assert_null(o.snapshot_root);
	assert_int_equal(sparse(&o, "--socket /s --snapshot-root /var/snap"), 0);
	assert_string_equal(o.snapshot_root, "/var/snap");
	assert_int_equal(sparse(&o, "--help"), 1);
	assert_int_equal(sparse(&o, ""), -EINVAL);
	assert_string_equal(err, "serve: --socket PATH is required");
	assert_int_equal(sparse(&o, "--socket /s --max-vms x"), -EINVAL);
	assert_string_equal(err, "serve: --max-vms: 'x' is not a valid value");
	assert_int_equal(sparse(&o, "--socket /s --max-body 10B"), -EINVAL);
	assert_string_equal(err, "serve: --max-body: '10B' is out of range");
	assert_int_equal(sparse(&o, "--socket /s --bogus"), -EINVAL);
	assert_non_null(strstr(err, "--bogus: unknown option"));
	assert_int_equal(sparse(&o, "--socket /s extra"), -EINVAL);
	assert_int_equal(sparse(&o, "--socket"), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	char longsock[200] = "--socket /";
	memset(longsock + 10, 's', 150);
	longsock[160] = 0;
	assert_int_equal(sparse(&o, longsock), -EINVAL);
	assert_non_null(strstr(err, "longer than a Unix socket path"));
}

static int teardown(void **state)
{
	(void)state;
	api_action_free(&a);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(routes),        cmocka_unit_test(names),
	        cmocka_unit_test(template_ok),   cmocka_unit_test(template_bad),
	        cmocka_unit_test(vm_request),    cmocka_unit_test(error_json),
	        cmocka_unit_test(serve_options), cmocka_unit_test(snapshot_order),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}

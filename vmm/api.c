/* vmm/api.c — HTTP request → validated struct action (include/api.h). JSON by jansson: no
 * hand-written parser. Every field is checked for its type and range here, and every field
 * the API does not know is refused, so a typo is a 400, never a silently ignored setting. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "layout.h"

const char *api_wait_name(enum wait_for w)
{
	static const char *const n[] = {"none", "running", "ready", "exit", "snapshot"};
	return (unsigned)w < ARRAY_SIZE(n) ? n[w] : "?";
}

bool api_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TEMPLATE_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

char *api_error_json(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

void api_action_free(struct action *a)
{
	struct template_spec *t = &a->tmpl;
	free(t->kernel);
	free(t->snapshot);
	free(t->initrd);
	free(t->cmdline);
	free(t->ready);
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		free(t->tap[i]);
	memset(t, 0, sizeof(*t));
}

#define FAIL(code, ...)                                                                            \
	do {                                                                                       \
		snprintf(err, err_len, __VA_ARGS__);                                               \
		return (code);                                                                     \
	} while (0)

/* Only the fields in allowed[] (NULL-terminated). */
static int check_fields(json_t *o, const char *const *allowed, const char *what, char *err,
                        size_t err_len)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(k, *a) == 0;
		if (!ok)
			FAIL(400, "%s: unknown field '%s'", what, k);
	}
	return 0;
}

static int get_string(json_t *o, const char *key, size_t max, char **out, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		FAIL(400, "%s: must be a string", key);
	size_t n = json_string_length(v);
	if (n > max)
		FAIL(400, "%s: %zu bytes, longer than %zu", key, n, max);
	const char *s = json_string_value(v);
	if (strlen(s) != n)
		FAIL(400, "%s: contains a NUL byte", key);
	if (!(*out = strdup(s)))
		FAIL(500, "out of memory");
	return 0;
}

static int get_uint(json_t *o, const char *key, uint64_t min, uint64_t max, uint64_t *out,
                    bool *set, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		FAIL(400, "%s: must be an integer", key);
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		FAIL(400, "%s: %lld is out of range [%llu, %llu]", key, (long long)x,
		     (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)x;
	if (set)
		*set = true;
	return 0;
}

static int get_bool(json_t *o, const char *key, bool *out, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		FAIL(400, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int r_ = (x);                                                                      \
		if (r_)                                                                            \
			return r_;                                                                 \
	} while (0)

static int parse_template(struct template_spec *t, json_t *o, char *err, size_t err_len)
{
	static const char *const fields[] = {"kernel", "snapshot", "initrd",     "cmdline",
	                                     "mem",    "cpus",     "disks",      "nets",
	                                     "pool",   "ready",    "timeout_ms", NULL};
	TRY(check_fields(o, fields, "template", err, err_len));
	TRY(get_string(o, "snapshot", PATH_MAX, &t->snapshot, err, err_len));
	if (t->snapshot) {
		/* A snapshot's clones are the VM it saved: nothing of the machine can differ. */
		static const char *const fixed[] = {"kernel", "initrd", "cmdline", "mem",
		                                    "cpus",   "disks",  "nets",    NULL};
		if (!*t->snapshot)
			FAIL(400, "snapshot: empty directory name");
		for (const char *const *f = fixed; *f; f++)
			if (json_object_get(o, *f))
				FAIL(400,
				     "%s: not with snapshot (the snapshot fixes the configuration)",
				     *f);
	}
	TRY(get_string(o, "kernel", PATH_MAX, &t->kernel, err, err_len));
	if (!t->snapshot && (!t->kernel || !*t->kernel))
		FAIL(400, "kernel: required (a path on the daemon's host), or snapshot (a "
		          "snapshot directory)");
	TRY(get_string(o, "initrd", PATH_MAX, &t->initrd, err, err_len));
	TRY(get_string(o, "cmdline", CMDLINE_MAX - 1 - PATCH_CMDLINE_MAX, &t->cmdline, err,
	               err_len));
	TRY(get_string(o, "ready", 256, &t->ready, err, err_len));
	if (t->ready) {
		regex_t re;
		int rc = regcomp(&re, t->ready, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			FAIL(400, "ready: '%s': %s", t->ready, msg);
		}
		regfree(&re);
	}
	t->mem = DEFAULT_MEM;
	json_t *m = json_object_get(o, "mem");
	if (json_is_string(m)) {
		if (parse_size(json_string_value(m), &t->mem) < 0)
			FAIL(400, "mem: '%s' is not a size (e.g. 128M, 1G)", json_string_value(m));
	} else if (json_is_integer(m)) {
		json_int_t x = json_integer_value(m);
		if (x <= 0 || (uint64_t)x > VM_MAX_MEM / MiB)
			FAIL(400, "mem: %lld MiB is out of range", (long long)x);
		t->mem = (uint64_t)x * MiB;
	} else if (m && !json_is_null(m)) {
		FAIL(400, "mem: must be a size string (\"128M\") or an integer (MiB)");
	}
	if (t->mem < VM_MIN_MEM || t->mem > VM_MAX_MEM || t->mem % (4 * KiB))
		FAIL(400, "mem: %llu bytes: want a multiple of 4 KiB between 2 MiB and 1 TiB",
		     (unsigned long long)t->mem);
	uint64_t v = 1;
	TRY(get_uint(o, "cpus", 1, VM_MAX_CPUS, &v, NULL, err, err_len));
	t->cpus = (unsigned)v;
	v = 0;
	TRY(get_uint(o, "pool", 0, 4096, &v, NULL, err, err_len));
	t->pool = (unsigned)v;
	TRY(get_uint(o, "timeout_ms", 0, 365ULL * 24 * 3600 * 1000, &t->timeout_ms, NULL, err,
	             err_len));
	json_t *d = json_object_get(o, "disks");
	if (d && !json_is_null(d)) {
		if (!json_is_array(d))
			FAIL(400, "disks: must be an array");
		if (json_array_size(d) > VM_MAX_DISKS)
			FAIL(400, "disks: %zu, more than %d", json_array_size(d), VM_MAX_DISKS);
		size_t i;
		json_t *e;
		json_array_foreach(d, i, e)
		{
			static const char *const df[] = {"path", "ro", "cow", NULL};
			if (!json_is_object(e))
				FAIL(400, "disks[%zu]: must be an object", i);
			TRY(check_fields(e, df, "disks[]", err, err_len));
			char *path = NULL;
			TRY(get_string(e, "path", DISK_PATH_MAX - 1, &path, err, err_len));
			if (!path || !*path) {
				free(path);
				FAIL(400, "disks[%zu].path: required", i);
			}
			struct disk_cfg *dc = &t->disk[t->ndisks++];
			snprintf(dc->path, sizeof(dc->path), "%s", path);
			free(path);
			TRY(get_bool(e, "ro", &dc->ro, err, err_len));
			TRY(get_bool(e, "cow", &dc->cow, err, err_len));
			if (dc->ro && dc->cow)
				FAIL(400, "disks[%zu]: ro and cow exclude each other", i);
		}
	}
	json_t *n = json_object_get(o, "nets");
	if (n && !json_is_null(n)) {
		if (!json_is_array(n))
			FAIL(400, "nets: must be an array");
		if (json_array_size(n) > VM_MAX_NICS)
			FAIL(400, "nets: %zu, more than %d", json_array_size(n), VM_MAX_NICS);
		size_t i;
		json_t *e;
		json_array_foreach(n, i, e)
		{
			static const char *const nf[] = {"tap", NULL};
			if (!json_is_object(e))
				FAIL(400, "nets[%zu]: must be an object", i);
			TRY(check_fields(e, nf, "nets[]", err, err_len));
			TRY(get_string(e, "tap", 15, &t->tap[t->nnets], err, err_len));
			if (t->tap[t->nnets] && t->pool)
				FAIL(400,
				     "nets[%zu].tap: a pooled template cannot name its tap (every "
				     "VM needs its own); leave it out",
				     i);
			t->nnets++;
		}
	}
	return 0;
}

static int parse_vm_request(struct vm_request *r, json_t *o, char *err, size_t err_len)
{
	static const char *const fields[] = {
	        "template", "snapshot", "cmdline_append", "wait", "timeout_ms", "mac", NULL};
	TRY(check_fields(o, fields, "vm", err, err_len));
	char *s = NULL;
	TRY(get_string(o, "snapshot", VM_SNAPSHOT_MAX, &s, err, err_len));
	if (s) {
		bool empty = !*s;
		snprintf(r->snapshot, sizeof(r->snapshot), "%s", s);
		free(s);
		s = NULL;
		if (empty)
			FAIL(400, "snapshot: empty directory name");
		if (json_object_get(o, "template"))
			FAIL(400, "template: not with snapshot (one or the other)");
		/* The guest booted long ago: its command line and MAC are the saved ones. */
		if (json_object_get(o, "cmdline_append") || json_object_get(o, "mac"))
			FAIL(400, "%s: not with snapshot (the guest has booted already)",
			     json_object_get(o, "mac") ? "mac" : "cmdline_append");
	}
	TRY(get_string(o, "template", TEMPLATE_NAME_MAX, &s, err, err_len));
	if (!s && r->snapshot[0])
		goto rest;
	if (!s)
		FAIL(400, "template: required (or snapshot: a snapshot directory)");
	bool ok = api_name_ok(s);
	snprintf(r->template_name, sizeof(r->template_name), "%s", s);
	free(s);
	if (!ok)
		FAIL(400, "template: '%s' is not a template name", r->template_name);
rest:
	s = NULL;
	TRY(get_string(o, "cmdline_append", PATCH_CMDLINE_MAX - 1, &s, err, err_len));
	if (s) {
		snprintf(r->cmdline_append, sizeof(r->cmdline_append), "%s", s);
		free(s);
	}
	s = NULL;
	TRY(get_string(o, "wait", 16, &s, err, err_len));
	r->wait = WAIT_NONE;
	if (s) {
		int w = -1;
		for (int i = WAIT_NONE; i <= WAIT_EXIT; i++)
			if (strcmp(s, api_wait_name((enum wait_for)i)) == 0)
				w = i;
		free(s);
		if (w < 0)
			FAIL(400, "wait: want one of none, running, ready, exit");
		r->wait = (enum wait_for)w;
	}
	TRY(get_uint(o, "timeout_ms", 0, 365ULL * 24 * 3600 * 1000, &r->timeout_ms, &r->timeout_set,
	             err, err_len));
	s = NULL;
	TRY(get_string(o, "mac", 17, &s, err, err_len));
	if (s) {
		int rc = parse_mac(s, r->mac);
		free(s);
		if (rc < 0)
			FAIL(400, "mac: want a unicast address like 52:54:00:12:34:56");
		r->mac_set = true;
	}
	return 0;
}

/* PUT /vms/{id}/snapshot: {"name": NAME, "stop": BOOL}; NAME is a directory the daemon makes
 * under its --snapshot-root, so it is a name, never a path. */
static int parse_snapshot_order(struct action *a, json_t *o, char *err, size_t err_len)
{
	static const char *const fields[] = {"name", "stop", NULL};
	TRY(check_fields(o, fields, "snapshot", err, err_len));
	char *s = NULL;
	TRY(get_string(o, "name", TEMPLATE_NAME_MAX, &s, err, err_len));
	if (!s)
		FAIL(400, "name: required (the snapshot's directory under --snapshot-root)");
	bool ok = api_name_ok(s);
	snprintf(a->name, sizeof(a->name), "%s", s);
	free(s);
	if (!ok)
		FAIL(400,
		     "name: '%s' is not a snapshot name ([A-Za-z0-9._-], not starting with '.')",
		     a->name);
	return get_bool(o, "stop", &a->snap_stop, err, err_len);
}

/* "/vms/123" → 123; only decimal, no sign, no leading zeros beyond "0". */
static bool parse_id(const char *s, size_t n, uint64_t *id)
{
	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*id = v;
	return true;
}

int api_parse(struct action *a, const char *method, const char *path, const char *body,
              size_t body_len, char *err, size_t err_len)
{
	memset(a, 0, sizeof(*a));
	bool get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0,
	     post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
	bool has_body = put || post;
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	char p[256];
	if (plen >= sizeof(p))
		FAIL(404, "no such resource");
	memcpy(p, path, plen);
	p[plen] = 0;
	while (plen > 1 && p[plen - 1] == '/')
		p[--plen] = 0; /* "/vms/" is "/vms" */

	if (strcmp(p, "/metrics") == 0) {
		if (!get)
			FAIL(405, "%s /metrics: only GET", method);
		a->kind = ACT_METRICS;
		return 0;
	}
	if (strcmp(p, "/templates") == 0) {
		if (!get)
			FAIL(405, "%s /templates: only GET (PUT /templates/{name} creates one)",
			     method);
		a->kind = ACT_TEMPLATE_LIST;
		return 0;
	}
	if (strncmp(p, "/templates/", 11) == 0) {
		const char *name = p + 11;
		if (!api_name_ok(name))
			FAIL(404, "'%.64s' is not a template name", name);
		memcpy(a->name, name, strlen(name) + 1); /* api_name_ok: at most 64 bytes */
		if (get)
			a->kind = ACT_TEMPLATE_GET;
		else if (del)
			a->kind = ACT_TEMPLATE_DELETE;
		else if (put)
			a->kind = ACT_TEMPLATE_PUT;
		else
			FAIL(405, "%s /templates/{name}: want GET, PUT or DELETE", method);
	} else if (strcmp(p, "/vms") == 0) {
		if (get)
			a->kind = ACT_VM_LIST;
		else if (post)
			a->kind = ACT_VM_CREATE;
		else
			FAIL(405, "%s /vms: want GET or POST", method);
	} else if (strncmp(p, "/vms/", 5) == 0) {
		const char *s = p + 5, *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		if (!parse_id(s, n, &a->id))
			FAIL(404, "'%.*s' is not a VM id", (int)n, s);
		if (slash && strcmp(slash, "/console") == 0) {
			if (!get)
				FAIL(405, "%s /vms/{id}/console: only GET", method);
			a->kind = ACT_VM_CONSOLE;
		} else if (slash && strcmp(slash, "/snapshot") == 0) {
			if (!put)
				FAIL(405, "%s /vms/{id}/snapshot: only PUT", method);
			a->kind = ACT_VM_SNAPSHOT;
		} else if (slash) {
			FAIL(404, "no such resource");
		} else if (get) {
			a->kind = ACT_VM_GET;
		} else if (del) {
			a->kind = ACT_VM_DELETE;
		} else {
			FAIL(405, "%s /vms/{id}: want GET or DELETE", method);
		}
	} else {
		FAIL(404, "no such resource");
	}
	if (a->kind != ACT_TEMPLATE_PUT && a->kind != ACT_VM_CREATE && a->kind != ACT_VM_SNAPSHOT)
		return 0;
	(void)has_body;
	if (body_len == 0)
		FAIL(400, "a JSON object body is required");
	json_error_t je;
	json_t *o = json_loadb(body, body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!o)
		FAIL(400, "body: malformed JSON at line %d column %d: %s", je.line, je.column,
		     je.text);
	int r;
	if (!json_is_object(o)) {
		snprintf(err, err_len, "body: must be a JSON object");
		r = 400;
	} else if (a->kind == ACT_TEMPLATE_PUT) {
		r = parse_template(&a->tmpl, o, err, err_len);
	} else if (a->kind == ACT_VM_SNAPSHOT) {
		r = parse_snapshot_order(a, o, err, err_len);
	} else {
		r = parse_vm_request(&a->vm, o, err, err_len);
	}
	json_decref(o);
	return r;
}

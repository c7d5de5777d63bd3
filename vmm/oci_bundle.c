/* vmm/oci_bundle.c — an OCI bundle (runtime-spec v1 config.md) → a validated VM description.
 *
 * The bundle is hostile input: config.json is parsed by jansson (size-bounded, duplicate keys
 * refused), every value is type- and range-checked, and every file named by the bundle is
 * opened here, once, inside the rootfs (oci_open_in_root), so that nothing later follows a
 * path that could have changed. Where the spec asks for something a VM cannot do, the load
 * fails with one line naming the field; fields that do not matter to a VM are ignored, as
 * the spec requires of unknown properties (config.md: "MUST NOT generate an error if they
 * encounter an unknown property"), and listed in docs/oci.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "oci.h"

static void file_init(struct oci_file *f)
{
	f->fd = -1;
	f->name[0] = f->path[0] = 0;
}

static void file_close(struct oci_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	file_init(f);
}

static int file_set(struct oci_file *f, int fd, const char *name)
{
	f->fd = fd;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", fd);
	return 0;
}

/* A regular file, opened without blocking (a FIFO planted in the rootfs must not hang us). */
static int check_regular(int fd, const char *what, const char *path, struct err *e)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set(e, -errno, "%s: %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, "%s: %s: not a regular file", what, path);
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return 0;
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
			return true;
	return false;
}

int oci_open_in_root(int rootfd, const char *path, const char *what, struct err *e)
{
	if (!path[0])
		return err_set(e, -EINVAL, "%s: empty path", what);
	if (has_dotdot(path))
		return err_set(e, -EINVAL,
		               "%s: %s: '..' is not allowed in a path inside the rootfs", what,
		               path);
	const char *rel = path;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return err_set(e, -EINVAL, "%s: %s: not a file", what, path);
	struct open_how how = {
	        .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
	        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd < 0) {
		int r = -errno;
		if (r == -ENOSYS)
			return err_set(e, r, "%s: %s: this kernel lacks openat2 (Linux 5.6)", what,
			               path);
		if (r == -ENOENT)
			return err_set(e, r, "%s: %s: no such file in the rootfs", what, path);
		return err_set(e, r, "%s: %s: %s", what, path, strerror(-r));
	}
	int r = check_regular(fd, what, path, e);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- typed access to the JSON document ---- */

static int want_type(json_t *v, json_type t, const char *field, struct err *e)
{
	static const char *const names[] = {"an object", "an array",  "a string",  "an integer",
	                                    "a number",  "a boolean", "a boolean", "null"};
	if (!v || json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v)))
		return 0;
	return err_set(e, -EINVAL, "config.json: %s: must be %s", field, names[t]);
}

static int get_obj(json_t *parent, const char *key, const char *field, json_t **out, struct err *e)
{
	*out = parent ? json_object_get(parent, key) : NULL;
	return want_type(*out, JSON_OBJECT, field, e);
}

static int get_str(json_t *parent, const char *key, const char *field, const char **out,
                   struct err *e)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;
	*out = NULL;
	int r = want_type(v, JSON_STRING, field, e);
	if (r == 0 && v) {
		*out = json_string_value(v);
		if (strlen(*out) != json_string_length(v))
			return err_set(e, -EINVAL, "config.json: %s: contains a NUL byte", field);
	}
	return r;
}

static int get_bool(json_t *parent, const char *key, const char *field, bool *out, struct err *e)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;
	int r = want_type(v, JSON_TRUE, field, e);
	if (r == 0 && v)
		*out = json_is_true(v);
	return r;
}

/* An integer field; *present false when absent. */
static int get_int(json_t *parent, const char *key, const char *field, json_int_t *out,
                   bool *present, struct err *e)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;
	*present = v != NULL;
	int r = want_type(v, JSON_INTEGER, field, e);
	if (r == 0 && v)
		*out = json_integer_value(v);
	return r;
}

/* Every element of an array of strings, checked; NULL array is an empty one. */
static int check_str_array(json_t *a, const char *field, struct err *e)
{
	int r = want_type(a, JSON_ARRAY, field, e);
	size_t i;
	json_t *v;
	if (r < 0 || !a)
		return r;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return err_set(e, -EINVAL, "config.json: %s[%zu]: must be a string", field,
			               i);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return err_set(e, -EINVAL, "config.json: %s[%zu]: contains a NUL byte",
			               field, i);
	}
	return 0;
}

/* Join strings with spaces into a fresh buffer; a kernel command line cannot carry an
 * argument with a space or a newline in it, so such an argument is refused. */
static int join_args(json_t *a, size_t from, const char *field, char **out, struct err *e)
{
	size_t len = 1, i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (i < from)
			continue;
		const char *s = json_string_value(v);
		if (strpbrk(s, " \t\n\r"))
			return err_set(e, -EINVAL,
			               "config.json: %s[%zu]: '%s': a kernel command-line argument "
			               "cannot contain white space",
			               field, i, s);
		len += strlen(s) + 1;
	}
	char *o = malloc(len);
	if (!o)
		return err_set(e, -ENOMEM, "config.json: out of memory");
	o[0] = 0;
	json_array_foreach(a, i, v)
	{
		if (i < from)
			continue;
		if (o[0])
			strcat(o, " ");
		strcat(o, json_string_value(v));
	}
	*out = o;
	return 0;
}

/* ---- the parts of the spec a VM honours ---- */

/* process.env entries FASTVMM_<KEY> act as lower-priority annotations: an image's Env or
 * `podman run -e` can set them where an engine offers no way to pass annotations. */
static const char *env_value(json_t *env, const char *key)
{
	size_t i, kl = strlen(key);
	json_t *v;
	if (!env)
		return NULL;
	json_array_foreach(env, i, v)
	{
		const char *s = json_string_value(v);
		if (strncmp(s, key, kl) == 0 && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

struct knobs { /* annotation, else FASTVMM_* env, else NULL */
	const char *kernel, *cmdline, *initrd, *mem, *cpus, *disks, *timeout, *stop_grace;
};

static int read_annotations(json_t *ann, json_t *env, struct knobs *k, struct err *e)
{
	static const struct {
		const char *ann, *env;
		size_t off;
	} tab[] = {
	        {OCI_ANN_KERNEL, "FASTVMM_KERNEL", offsetof(struct knobs, kernel)},
	        {OCI_ANN_CMDLINE, "FASTVMM_CMDLINE", offsetof(struct knobs, cmdline)},
	        {OCI_ANN_INITRD, "FASTVMM_INITRD", offsetof(struct knobs, initrd)},
	        {OCI_ANN_MEM, "FASTVMM_MEM", offsetof(struct knobs, mem)},
	        {OCI_ANN_CPUS, "FASTVMM_CPUS", offsetof(struct knobs, cpus)},
	        {OCI_ANN_DISKS, "FASTVMM_DISKS", offsetof(struct knobs, disks)},
	        {OCI_ANN_TIMEOUT, "FASTVMM_TIMEOUT", offsetof(struct knobs, timeout)},
	        {OCI_ANN_STOP_GRACE, "FASTVMM_STOP_GRACE", offsetof(struct knobs, stop_grace)},
	};
	const char *key;
	json_t *v;
	memset(k, 0, sizeof(*k));
	int r = want_type(ann, JSON_OBJECT, "annotations", e);
	if (r < 0)
		return r;
	if (ann)
		json_object_foreach(ann, key, v)
		{
			if (!json_is_string(v))
				return err_set(e, -EINVAL,
				               "config.json: annotations.%s: must be a string",
				               key);
			if (strncmp(key, OCI_ANN_PREFIX, strlen(OCI_ANN_PREFIX)) != 0)
				continue; /* someone else's */
			size_t i;
			for (i = 0; i < ARRAY_SIZE(tab); i++)
				if (!strcmp(key, tab[i].ann))
					break;
			if (i == ARRAY_SIZE(tab))
				return err_set(
				        e, -EINVAL,
				        "annotation %s: unknown (known: kernel, cmdline, "
				        "initrd, mem, "
				        "cpus, disks, timeout, stop-grace under " OCI_ANN_PREFIX
				        ")",
				        key);
			*(const char **)((char *)k + tab[i].off) = json_string_value(v);
		}
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		const char **slot = (const char **)((char *)k + tab[i].off);
		if (!*slot)
			*slot = env_value(env, tab[i].env);
	}
	return 0;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
        {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_CORE", RLIMIT_CORE},
        {"RLIMIT_CPU", RLIMIT_CPU},
        {"RLIMIT_DATA", RLIMIT_DATA},
        {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
        {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_NPROC", RLIMIT_NPROC},
        {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
        {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_STACK", RLIMIT_STACK},
};

/* process.rlimits apply to the VM's process; the spec asks for an error on an unknown type. */
static int read_rlimits(struct oci_bundle *b, json_t *a, struct err *e)
{
	int r = want_type(a, JSON_ARRAY, "process.rlimits", e);
	size_t i;
	json_t *v;
	if (r < 0 || !a)
		return r;
	json_array_foreach(a, i, v)
	{
		const char *type;
		json_int_t soft = 0, hard = 0;
		bool hs, hh;
		char f[64];
		snprintf(f, sizeof(f), "process.rlimits[%zu]", i);
		if ((r = want_type(v, JSON_OBJECT, f, e)) < 0 ||
		    (r = get_str(v, "type", f, &type, e)) < 0 ||
		    (r = get_int(v, "soft", f, &soft, &hs, e)) < 0 ||
		    (r = get_int(v, "hard", f, &hard, &hh, e)) < 0)
			return r;
		if (!type || !hs || !hh)
			return err_set(e, -EINVAL, "config.json: %s: needs type, soft and hard", f);
		size_t k;
		for (k = 0; k < ARRAY_SIZE(rlimit_names); k++)
			if (!strcmp(type, rlimit_names[k].name))
				break;
		if (k == ARRAY_SIZE(rlimit_names))
			return err_set(e, -EINVAL, "config.json: %s: unknown rlimit type '%s'", f,
			               type);
		if (b->nrlimits == OCI_MAX_RLIMITS)
			return err_set(e, -E2BIG, "config.json: process.rlimits: more than %d",
			               OCI_MAX_RLIMITS);
		b->rlimit[b->nrlimits].resource = rlimit_names[k].res;
		/* The spec's values are uint64 ("RLIM_INFINITY" is 2^64-1, beyond json_int_t). */
		b->rlimit[b->nrlimits].soft = soft < 0 ? RLIM_INFINITY : (uint64_t)soft;
		b->rlimit[b->nrlimits].hard = hard < 0 ? RLIM_INFINITY : (uint64_t)hard;
		b->nrlimits++;
	}
	return 0;
}

/* linux.resources → guest size defaults and the cgroup limits of the VM's process. */
static int read_resources(struct oci_bundle *b, json_t *linux_, uint64_t *mem_limit,
                          unsigned *cpus_quota, struct err *e)
{
	json_t *res, *mem, *cpu, *pids;
	json_int_t v;
	bool have;
	int r;
	b->cg_mem = b->cg_cpu_quota = b->cg_pids = -1;
	b->cg_cpu_period = 0;
	*mem_limit = 0;
	*cpus_quota = 0;
	if ((r = get_obj(linux_, "resources", "linux.resources", &res, e)) < 0 ||
	    (r = get_obj(res, "memory", "linux.resources.memory", &mem, e)) < 0 ||
	    (r = get_obj(res, "cpu", "linux.resources.cpu", &cpu, e)) < 0 ||
	    (r = get_obj(res, "pids", "linux.resources.pids", &pids, e)) < 0)
		return r;
	if ((r = get_int(mem, "limit", "linux.resources.memory.limit", &v, &have, e)) < 0)
		return r;
	if (have && v > 0) {
		if ((uint64_t)v < VM_MIN_MEM || (uint64_t)v > VM_MAX_MEM)
			return err_set(
			        e, -ERANGE,
			        "linux.resources.memory.limit: %lld bytes: guest RAM must be "
			        "%llu MiB..%llu GiB",
			        (long long)v, VM_MIN_MEM / MiB, VM_MAX_MEM / GiB);
		*mem_limit = (uint64_t)v;
	}
	json_int_t quota = 0, period = 100000;
	bool hq, hp;
	if ((r = get_int(cpu, "quota", "linux.resources.cpu.quota", &quota, &hq, e)) < 0 ||
	    (r = get_int(cpu, "period", "linux.resources.cpu.period", &period, &hp, e)) < 0)
		return r;
	if (!hp || period <= 0)
		period = 100000; /* the kernel's default CFS period */
	if (period > 1000000 || (hp && period < 1000))
		return err_set(e, -ERANGE,
		               "linux.resources.cpu.period: %lld µs: must be 1000..1000000",
		               (long long)period);
	if (hq && quota > 0) {
		long long n = (quota + period - 1) / period;
		if (n > VM_MAX_CPUS)
			n = VM_MAX_CPUS;
		*cpus_quota = (unsigned)n;
		b->cg_cpu_quota = quota;
		b->cg_cpu_period = (uint64_t)period;
	}
	if ((r = get_int(pids, "limit", "linux.resources.pids.limit", &v, &have, e)) < 0)
		return r;
	if (have && v > 0)
		b->cg_pids = v;
	return 0;
}

/* "a.img:ro,b.img" → disks inside the rootfs; cow unless ":ro" or ":rw" says otherwise. */
static int read_disks(struct oci_bundle *b, int rootfd, const char *spec, bool root_ro,
                      struct err *e)
{
	char buf[4096];
	if (strlen(spec) >= sizeof(buf))
		return err_set(e, -E2BIG, "%s: too long", OCI_ANN_DISKS);
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (b->ndisks == VM_MAX_DISKS)
			return err_set(e, -E2BIG, "%s: more than %d disks", OCI_ANN_DISKS,
			               VM_MAX_DISKS);
		bool ro = false, cow = true;
		char *mode = strrchr(tok, ':');
		if (mode) {
			*mode++ = 0;
			if (!strcmp(mode, "ro"))
				ro = true, cow = false;
			else if (!strcmp(mode, "rw"))
				cow = false;
			else if (strcmp(mode, "cow"))
				return err_set(e, -EINVAL,
				               "%s: %s: mode '%s': must be cow, ro or rw",
				               OCI_ANN_DISKS, tok, mode);
		}
		if (!ro && !cow && root_ro)
			return err_set(e, -EROFS, "%s: %s:rw: the bundle's root is read-only",
			               OCI_ANN_DISKS, tok);
		int fd = oci_open_in_root(rootfd, tok, OCI_ANN_DISKS, e);
		if (fd < 0)
			return fd;
		if (!ro && !cow) { /* written in place: the core reopens it read-write */
			char p[32];
			snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
			if (access(p, W_OK) < 0) {
				int r = -errno;
				close(fd);
				return err_set(e, r, "%s: %s: %s", OCI_ANN_DISKS, tok,
				               strerror(-r));
			}
		}
		file_set(&b->disk[b->ndisks], fd, tok);
		b->disk_ro[b->ndisks] = ro;
		b->disk_cow[b->ndisks] = cow;
		b->ndisks++;
	}
	return 0;
}

/* The spec's "vm" object (config-vm.md): host paths chosen by whoever wrote the bundle. */
static int read_vm_object(struct oci_bundle *b, json_t *vm, json_t **kparams, struct err *e)
{
	json_t *hyp, *kern, *img;
	const char *path, *initrd, *fmt;
	int r;
	*kparams = NULL;
	if ((r = want_type(vm, JSON_OBJECT, "vm", e)) < 0 || !vm)
		return r;
	if ((r = get_obj(vm, "hypervisor", "vm.hypervisor", &hyp, e)) < 0 ||
	    (r = get_obj(vm, "kernel", "vm.kernel", &kern, e)) < 0 ||
	    (r = get_obj(vm, "image", "vm.image", &img, e)) < 0)
		return r;
	if (hyp && json_object_size(hyp))
		return err_set(e, -EINVAL,
		               "config.json: vm.hypervisor: fastvmm is the hypervisor; "
		               "remove this field");
	if (kern) {
		if ((r = get_str(kern, "path", "vm.kernel.path", &path, e)) < 0 ||
		    (r = get_str(kern, "initrd", "vm.kernel.initrd", &initrd, e)) < 0)
			return r;
		if (!path)
			return err_set(e, -EINVAL, "config.json: vm.kernel: path is required");
		*kparams = json_object_get(kern, "parameters");
		if ((r = check_str_array(*kparams, "vm.kernel.parameters", e)) < 0)
			return r;
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return err_set(e, -errno, "vm.kernel.path: %s: %s", path, strerror(errno));
		if ((r = check_regular(fd, "vm.kernel.path", path, e)) < 0) {
			close(fd);
			return r;
		}
		file_set(&b->kernel, fd, path);
		if (initrd) {
			fd = open(initrd, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (fd < 0)
				return err_set(e, -errno, "vm.kernel.initrd: %s: %s", initrd,
				               strerror(errno));
			if ((r = check_regular(fd, "vm.kernel.initrd", initrd, e)) < 0) {
				close(fd);
				return r;
			}
			file_set(&b->initrd, fd, initrd);
		}
	}
	if (img) {
		if ((r = get_str(img, "path", "vm.image.path", &path, e)) < 0 ||
		    (r = get_str(img, "format", "vm.image.format", &fmt, e)) < 0)
			return r;
		if (!path || !fmt)
			return err_set(e, -EINVAL,
			               "config.json: vm.image: path and format are required");
		if (strcmp(fmt, "raw"))
			return err_set(e, -EINVAL,
			               "vm.image.format: '%s': only raw images are supported", fmt);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return err_set(e, -errno, "vm.image.path: %s: %s", path, strerror(errno));
		if ((r = check_regular(fd, "vm.image.path", path, e)) < 0) {
			close(fd);
			return r;
		}
		file_set(&b->disk[0], fd, path);
		b->disk_cow[0] =
		        true; /* the image is shared: this container writes a private overlay */
		b->ndisks = 1;
	}
	return 0;
}

/* What the spec asks that a VM cannot do: refuse rather than pretend. */
static int refuse_unhonourable(json_t *root, struct err *e)
{
	static const char *const other_os[] = {"windows", "solaris", "zos"};
	for (size_t i = 0; i < ARRAY_SIZE(other_os); i++)
		if (json_object_get(root, other_os[i]))
			return err_set(e, -EINVAL,
			               "config.json: %s: fastvmm runs Linux bundles only",
			               other_os[i]);
	json_t *hooks = json_object_get(root, "hooks"), *h;
	const char *key;
	int r = want_type(hooks, JSON_OBJECT, "hooks", e);
	if (r < 0)
		return r;
	if (hooks)
		json_object_foreach(hooks, key, h)
		{
			if (json_is_array(h) && json_array_size(h))
				return err_set(e, -EINVAL,
				               "config.json: hooks.%s: hooks are not supported",
				               key);
		}
	return 0;
}

void oci_bundle_config(const struct oci_bundle *b, struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kernel_path = b->kernel.path;
	cfg->initrd_path = b->initrd.fd >= 0 ? b->initrd.path : NULL;
	cfg->cmdline = b->cmdline;
	cfg->mem_size = b->mem;
	cfg->cpus = b->cpus;
	cfg->timeout_ms = b->timeout_ms;
	cfg->stop_grace_ms = b->stop_grace_ms;
	for (unsigned i = 0; i < b->ndisks; i++) {
		snprintf(cfg->disk[i].path, sizeof(cfg->disk[i].path), "%s", b->disk[i].path);
		cfg->disk[i].ro = b->disk_ro[i];
		cfg->disk[i].cow = b->disk_cow[i];
	}
	cfg->ndisks = b->ndisks;
	cfg->discovery = DISCOVERY_AUTO;
}

void oci_bundle_free(struct oci_bundle *b)
{
	file_close(&b->kernel);
	file_close(&b->initrd);
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		file_close(&b->disk[i]);
	free(b->cmdline);
	free(b->annotations_json);
	b->cmdline = b->annotations_json = NULL;
}

/* A file an annotation names inside the rootfs, unless the spec's vm object (field) named
 * one already: one source per file. */
static int open_annotated(int rootfd, const char *path, const char *ann, const char *field,
                          struct oci_file *f, struct err *e)
{
	if (f->fd >= 0)
		return err_set(e, -EINVAL, "%s and %s: give one of them", ann, field);
	int r = oci_open_in_root(rootfd, path, ann, e);
	if (r < 0)
		return r;
	file_set(f, r, path);
	return 0;
}

static int load(struct oci_bundle *b, json_t *root, int rootfd_out[1], struct err *e)
{
	const char *ver, *rpath;
	json_t *jroot, *process, *linux_, *ann, *args, *env;
	bool root_ro = false;
	int r;
	if ((r = want_type(root, JSON_OBJECT, "(top level)", e)) < 0 ||
	    (r = get_str(root, "ociVersion", "ociVersion", &ver, e)) < 0)
		return r;
	if (!ver)
		return err_set(e, -EINVAL, "config.json: ociVersion: missing");
	if (strncmp(ver, "1.", 2) != 0)
		return err_set(e, -EINVAL, "config.json: ociVersion '%s': only 1.x is supported",
		               ver);
	snprintf(b->oci_version, sizeof(b->oci_version), "%s", ver);
	if ((r = get_obj(root, "root", "root", &jroot, e)) < 0 ||
	    (r = get_str(jroot, "path", "root.path", &rpath, e)) < 0 ||
	    (r = get_bool(jroot, "readonly", "root.readonly", &root_ro, e)) < 0 ||
	    (r = get_obj(root, "process", "process", &process, e)) < 0 ||
	    (r = get_obj(root, "linux", "linux", &linux_, e)) < 0 ||
	    (r = get_obj(root, "annotations", "annotations", &ann, e)) < 0)
		return r;
	if (!rpath)
		return err_set(e, -EINVAL, "config.json: root.path: missing");
	if (!process)
		return err_set(e, -EINVAL, "config.json: process: missing (it names the kernel)");
	args = json_object_get(process, "args");
	env = json_object_get(process, "env");
	if ((r = check_str_array(args, "process.args", e)) < 0 ||
	    (r = check_str_array(env, "process.env", e)) < 0 ||
	    (r = get_bool(process, "terminal", "process.terminal", &b->terminal, e)) < 0 ||
	    (r = get_bool(process, "noNewPrivileges", "process.noNewPrivileges", &b->no_new_privs,
	                  e)) < 0 ||
	    (r = read_rlimits(b, json_object_get(process, "rlimits"), e)) < 0 ||
	    (r = refuse_unhonourable(root, e)) < 0)
		return r;

	/* The rootfs: relative to the bundle (config.md "root.path"). */
	if (rpath[0] == '/')
		snprintf(b->rootfs, sizeof(b->rootfs), "%s", rpath);
	else if ((size_t)snprintf(b->rootfs, sizeof(b->rootfs), "%s/%s", b->dir, rpath) >=
	         sizeof(b->rootfs))
		return err_set(e, -ENAMETOOLONG, "root.path: too long");
	int rootfd = open(b->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_set(e, -errno, "root.path: %s: %s", b->rootfs, strerror(errno));
	rootfd_out[0] = rootfd;

	struct knobs k;
	if ((r = read_annotations(ann, env, &k, e)) < 0)
		return r;
	static const char *const sandbox_keys[] = {"io.kubernetes.cri.container-type",
	                                           "io.kubernetes.cri-o.ContainerType"};
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_keys); i++) {
		json_t *t = ann ? json_object_get(ann, sandbox_keys[i]) : NULL;
		if (t && !strcmp(json_string_value(t), "sandbox"))
			b->sandbox = true;
	}
	if (b->sandbox) {
		b->annotations_json = json_dumps(ann, JSON_COMPACT);
		return b->annotations_json ? 0 : err_set(e, -ENOMEM, "out of memory");
	}
	json_t *kparams;
	if ((r = read_vm_object(b, json_object_get(root, "vm"), &kparams, e)) < 0)
		return r;

	/* The kernel: annotation (or FASTVMM_KERNEL), else the spec's vm.kernel, else args[0]. */
	bool kernel_from_args = false;
	if (k.kernel) {
		if ((r = open_annotated(rootfd, k.kernel, OCI_ANN_KERNEL, "vm.kernel.path",
		                        &b->kernel, e)) < 0)
			return r;
	} else if (b->kernel.fd < 0) {
		if (!args || !json_array_size(args))
			return err_set(
			        e, -EINVAL,
			        "config.json: process.args is empty and no %s annotation names "
			        "the kernel",
			        OCI_ANN_KERNEL);
		const char *a0 = json_string_value(json_array_get(args, 0));
		if ((r = oci_open_in_root(rootfd, a0, "process.args[0] (the kernel)", e)) < 0)
			return r;
		file_set(&b->kernel, r, a0);
		kernel_from_args = true;
	}
	if (k.initrd && (r = open_annotated(rootfd, k.initrd, OCI_ANN_INITRD, "vm.kernel.initrd",
	                                    &b->initrd, e)) < 0)
		return r;

	/* The command line: annotation, else vm.kernel.parameters, else the arguments after the
	 * kernel (args[1..] when args[0] is the kernel, all of args otherwise). */
	if (k.cmdline) {
		if (!(b->cmdline = strdup(k.cmdline)))
			return err_set(e, -ENOMEM, "out of memory");
		if (strpbrk(b->cmdline, "\n\r"))
			return err_set(e, -EINVAL, "%s: must be one line", OCI_ANN_CMDLINE);
	} else if (kparams && json_array_size(kparams)) {
		if ((r = join_args(kparams, 0, "vm.kernel.parameters", &b->cmdline, e)) < 0)
			return r;
	} else if (args && json_array_size(args) > (kernel_from_args ? 1u : 0u)) {
		if ((r = join_args(args, kernel_from_args ? 1 : 0, "process.args", &b->cmdline,
		                   e)) < 0)
			return r;
	} else if (!(b->cmdline = strdup(DEFAULT_CMDLINE))) {
		return err_set(e, -ENOMEM, "out of memory");
	}

	/* Size: annotations, else linux.resources, else the CLI's defaults. */
	uint64_t mem_limit;
	unsigned cpus_quota;
	if ((r = read_resources(b, linux_, &mem_limit, &cpus_quota, e)) < 0)
		return r;
	b->mem = DEFAULT_MEM;
	if (mem_limit)
		b->mem = mem_limit;
	if (k.mem) {
		uint64_t m;
		if (parse_size(k.mem, &m) < 0 || m < VM_MIN_MEM || m > VM_MAX_MEM)
			return err_set(e, -EINVAL, "%s: '%s': a size %llu MiB..%llu GiB, e.g. 64M",
			               OCI_ANN_MEM, k.mem, VM_MIN_MEM / MiB, VM_MAX_MEM / GiB);
		if (mem_limit && m > mem_limit)
			return err_set(e, -EINVAL,
			               "%s: %s is above linux.resources.memory.limit (%llu MiB)",
			               OCI_ANN_MEM, k.mem, (unsigned long long)(mem_limit / MiB));
		b->mem = m;
	}
	if (mem_limit)
		b->cg_mem = (int64_t)(mem_limit + OCI_VMM_OVERHEAD);
	b->cpus = cpus_quota ? cpus_quota : 1;
	if (k.cpus) {
		uint64_t c;
		if (parse_uint(k.cpus, 1, VM_MAX_CPUS, &c) < 0)
			return err_set(e, -EINVAL, "%s: '%s': a number 1..%d", OCI_ANN_CPUS, k.cpus,
			               VM_MAX_CPUS);
		b->cpus = (unsigned)c;
	}
	if (k.timeout && parse_seconds(k.timeout, &b->timeout_ms) < 0)
		return err_set(e, -EINVAL, "%s: '%s': seconds, e.g. 30 or 0.5", OCI_ANN_TIMEOUT,
		               k.timeout);
	b->stop_grace_ms = OCI_STOP_GRACE_MS;
	if (k.stop_grace && !strcmp(k.stop_grace, "0"))
		b->stop_grace_ms = 0;
	else if (k.stop_grace && parse_seconds(k.stop_grace, &b->stop_grace_ms) < 0)
		return err_set(e, -EINVAL, "%s: '%s': seconds, e.g. 5 or 0.5 (0: stop at once)",
		               OCI_ANN_STOP_GRACE, k.stop_grace);
	if (k.disks && (r = read_disks(b, rootfd, k.disks, root_ro, e)) < 0)
		return r;

	/* The cgroup: linux.cgroupsPath (cgroupfs form; vmm/oci.c applies it). */
	const char *cg;
	if ((r = get_str(linux_, "cgroupsPath", "linux.cgroupsPath", &cg, e)) < 0)
		return r;
	if (cg) {
		if (has_dotdot(cg))
			return err_set(e, -EINVAL, "linux.cgroupsPath: %s: '..' is not allowed",
			               cg);
		if (strchr(cg, ':'))
			return err_set(
			        e, -EINVAL,
			        "linux.cgroupsPath: %s: a systemd slice:prefix:name path needs "
			        "--systemd-cgroup, which fastvmm does not support (use the "
			        "cgroupfs manager)",
			        cg);
		if (snprintf(b->cgroup, sizeof(b->cgroup), "%s", cg) >= (int)sizeof(b->cgroup))
			return err_set(e, -ENAMETOOLONG, "linux.cgroupsPath: too long");
	}
	b->annotations_json = ann ? json_dumps(ann, JSON_COMPACT) : strdup("{}");
	if (!b->annotations_json)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

static int parse(struct oci_bundle *b, const char *json, size_t len, struct err *e);

/* An empty bundle (every file closed) whose directory is bundle_dir, resolved. */
static int bundle_begin(struct oci_bundle *b, const char *bundle_dir, struct err *e)
{
	memset(b, 0, sizeof(*b));
	file_init(&b->kernel);
	file_init(&b->initrd);
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		file_init(&b->disk[i]);
	if (!realpath(bundle_dir, b->dir))
		return err_set(e, -errno, "--bundle %s: %s", bundle_dir, strerror(errno));
	return 0;
}

int oci_bundle_load(struct oci_bundle *b, const char *bundle_dir, struct err *e)
{
	int r = bundle_begin(b, bundle_dir, e);
	if (r < 0)
		return r;
	int dfd = open(b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(e, -errno, "--bundle %s: %s", bundle_dir, strerror(errno));
	int fd = openat(dfd, "config.json", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return err_set(e, -errno, "%s/config.json: %s", b->dir, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)OCI_CONFIG_MAX) {
		close(fd);
		return err_set(e, -EINVAL, "%s/config.json: not a regular file of at most %llu MiB",
		               b->dir, OCI_CONFIG_MAX / MiB);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (got != st.st_size) {
		free(buf);
		return err_set(e, -EIO, "%s/config.json: short read", b->dir);
	}
	r = parse(b, buf, (size_t)got, e);
	free(buf);
	return r;
}

int oci_bundle_parse(struct oci_bundle *b, const char *bundle_dir, const char *json, size_t len,
                     struct err *e)
{
	int r = bundle_begin(b, bundle_dir, e);
	if (r < 0)
		return r;
	if (len > OCI_CONFIG_MAX)
		return err_set(e, -EINVAL, "config.json: larger than %llu MiB",
		               OCI_CONFIG_MAX / MiB);
	return parse(b, json, len, e);
}

void oci_msg_clean(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* config.json's bytes → b (b->dir set): JSON, then every field (load()). A refusal quotes
 * the bundle's own strings (keys, values): their control characters are made '?', so that
 * it stays one line (found by tests/fuzz/fuzz_oci.c: a "\n" in an annotation's key). */
static int parse(struct oci_bundle *b, const char *json, size_t len, struct err *e)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(e, -EINVAL, "config.json: line %d column %d: %s", je.line, je.column,
		        je.text);
		oci_msg_clean(e->msg); /* jansson quotes the bad token */
		return -EINVAL;
	}
	int rootfd = -1;
	int r = load(b, root, &rootfd, e);
	json_decref(root);
	if (rootfd >= 0)
		close(rootfd);
	if (r < 0) {
		oci_bundle_free(b);
		oci_msg_clean(e->msg);
	}
	return r;
}

/* vmm/config.c — argv → struct cli (getopt_long). Pure: reports, never prints or exits. */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "virtio.h"

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	uint64_t mul = MiB;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'B':
			mul = 1;
			break;
		case 'K':
			mul = KiB;
			break;
		case 'M':
			mul = MiB;
			break;
		case 'G':
			mul = GiB;
			break;
		case 'T':
			mul = 1024 * GiB;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (mul != 1 && (*end == 'i' || *end == 'I'))
			end++; /* "128MiB" */
		if (mul != 1 && (*end == 'b' || *end == 'B'))
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int parse_seconds(const char *s, uint64_t *ms)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	uint64_t whole = 0, frac = 0, scale = 1000;
	const char *p = s;
	while (isdigit((unsigned char)*p)) {
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		if (whole > 365ULL * 24 * 3600)
			return -ERANGE;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			scale /= 10;
			frac += (uint64_t)(*p++ - '0') * scale;
		}
	}
	if (*p)
		return -EINVAL;
	uint64_t v = whole * 1000 + frac;
	if (v == 0)
		return -ERANGE;
	*ms = v;
	return 0;
}

enum {
	OPT_JSON = 256,
	OPT_TIMINGS,
	OPT_PARALLEL,
	OPT_LOG_DIR,
	OPT_CONSOLE,
	OPT_READY,
	OPT_PLOT,
	OPT_DISK,
	OPT_NET,
	OPT_MAC,
	OPT_DISCOVERY,
	OPT_NO_SANDBOX,
	OPT_IRQCHIP,
	OPT_HUGEPAGES,
	OPT_JAIL,
	OPT_JAIL_CGROUP,
	OPT_SNAPSHOT,
	OPT_SNAPSHOT_AT,
	OPT_SNAPSHOT_THEN,
	OPT_RESTORE,
	OPT_STOP_GRACE,
};

static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'},
        {"mem", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timings", no_argument, NULL, OPT_TIMINGS},
        {"disk", required_argument, NULL, OPT_DISK},
        {"net", required_argument, NULL, OPT_NET},
        {"mac", required_argument, NULL, OPT_MAC},
        {"virtio-discovery", required_argument, NULL, OPT_DISCOVERY},
        {"irqchip", required_argument, NULL, OPT_IRQCHIP},
        {"hugepages", no_argument, NULL, OPT_HUGEPAGES},
        {"jail", optional_argument, NULL, OPT_JAIL},
        {"jail-cgroup", required_argument, NULL, OPT_JAIL_CGROUP},
        {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
        {"snapshot-at", required_argument, NULL, OPT_SNAPSHOT_AT},
        {"snapshot-then", required_argument, NULL, OPT_SNAPSHOT_THEN},
        {"restore", required_argument, NULL, OPT_RESTORE},
        {"stop-grace", required_argument, NULL, OPT_STOP_GRACE},
        {"quiet", no_argument, NULL, 'q'},
        {"instances", required_argument, NULL, 'n'},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"log-dir", required_argument, NULL, OPT_LOG_DIR},
        {"console", no_argument, NULL, OPT_CONSOLE},
        {"ready", required_argument, NULL, OPT_READY},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

void config_usage(FILE *out)
{
	fprintf(out,
	        "usage: fastvmm [--kernel FILE] [options]\n"
	        "       fastvmm serve --socket PATH [options]   (the daemon: serve --help)\n"
	        "       fastvmm oci COMMAND ...   (an OCI runtime, also as fastvmm-oci: oci "
	        "--help)\n"
	        "Boot a kernel straight into a KVM virtual machine (no firmware).\n\n"
	        "  -k, --kernel FILE    ELF64 (PVH note or Linux 64-bit entry) or bzImage\n"
	        "                       (default: the bundled hello guest)\n"
	        "  -i, --initrd FILE    initial ramdisk (default: none)\n"
	        "  -c, --cmdline STR    kernel command line (default: \"" DEFAULT_CMDLINE "\")\n"
	        "                       (batch: {id} becomes the instance number)\n"
	        "  -m, --mem SIZE       guest RAM, e.g. 128M, 1G; plain numbers are MiB (default: "
	        "128M)\n"
	        "  -p, --cpus N         vCPUs, 1-%d (default: 1)\n"
	        "  -t, --timeout SEC    stop the guest after SEC seconds (default: none)\n"
	        "      --stop-grace SEC  SIGTERM/SIGINT stop the VM cleanly (status 128+signal),\n"
	        "                       first pressing the ACPI power button if the guest listens\n"
	        "                       and giving it SEC seconds to power off (0: stop at once;\n"
	        "                       a second signal stops at once; default: signals kill)\n"
	        "      --json           print stage timings and the outcome as JSON on stdout\n"
	        "                       (the guest console then goes to stderr)\n"
	        "      --timings        print the stage timings to stderr after the run\n"
	        "      --disk PATH[,ro][,cow]  virtio-blk disk (repeatable, up to %d); ro: "
	        "read-only,\n"
	        "                       cow: writes go to a private overlay, PATH is never "
	        "modified\n"
	        "      --net tap[=NAME] virtio-net on a tap device (repeatable, up to %d);\n"
	        "                       'none' adds nothing\n"
	        "      --mac MAC        MAC of the first NIC (default: 52:54:00:fN:II:II from the\n"
	        "                       NIC index N and the instance id)\n"
	        "      --virtio-discovery auto|cmdline|acpi|both  how the guest finds virtio "
	        "devices\n"
	        "                       (default auto: ACPI for Linux kernels, the command line "
	        "for others)\n"
	        "      --irqchip auto|kernel|split  interrupt controllers: all in KVM (kernel),\n"
	        "                       or LAPICs in KVM and the IOAPIC in fastvmm (split: no\n"
	        "                       PIC/PIT, fast teardown); auto: split for images known to\n"
	        "                       need no PIC/PIT, else kernel (default: auto)\n"
	        "      --hugepages      back guest RAM with 2 MiB huge pages (hugetlbfs pool)\n"
	        "      --snapshot DIR   save the running VM to DIR (state + sparse RAM, 0600)\n"
	        "      --snapshot-at ready|exit-port|line:REGEX|SECONDS  when (default ready:\n"
	        "                       the boot-timer write; exit-port: the guest writes port\n"
	        "                       0x508; line: a console line matches; SECONDS after start)\n"
	        "      --snapshot-then continue|stop  after saving (default continue)\n"
	        "      --restore DIR    resume the VM saved in DIR; with -n N, N clones sharing\n"
	        "                       its memory (each with its own disk overlays)\n"
	        "  -q, --quiet          discard the guest console\n"
	        "  -n, --instances N    batch: launch N instances, one process each (1-%d),\n"
	        "                       then print the boot-time report (see README)\n"
	        "      --parallel P     batch: at most P instances in flight (default: all)\n"
	        "      --log-dir DIR    batch: consoles to DIR/vm-<i>.log (default: a new\n"
	        "                       directory under $TMPDIR or /tmp)\n"
	        "      --console        batch: stream consoles, lines prefixed \"[i] \"\n"
	        "      --ready REGEX    batch: a console line matching REGEX marks ready\n"
	        "      --plot FILE      batch: draw the timeline as SVG to FILE\n"
	        "      --jail[=UID[:GID]]  each VM in its own mount/net/IPC/UTS namespaces with "
	        "an\n"
	        "                       empty root, as UID:GID (default 65534:65534; UID+ adds "
	        "the\n"
	        "                       instance id), in a cgroup v2 group with memory, pids and\n"
	        "                       cpu limits (root only; see docs/security.md)\n"
	        "      --jail-cgroup DIR|none  parent cgroup v2 group (default: fastvmm/ at the\n"
	        "                       cgroup v2 root; none: no cgroup)\n"
	        "      --no-sandbox     run without the seccomp filter and keep capabilities\n"
	        "                       (debugging only; see docs/security.md)\n"
	        "  -v, --verbose        more diagnostics (repeatable)\n"
	        "  -h, --help           this help\n"
	        "  -V, --version        version\n\n"
	        "Exit status: the guest's exit code (fastvmm guests), 0 after a clean shutdown,\n"
	        "2 bad arguments or files, 70 host failure, 124 timeout, 125 guest crash,\n"
	        "126 KVM could not run the guest. Batch: 0 if every instance succeeded, else 1;\n"
	        "128+signal when interrupted.\n",
	        VM_MAX_CPUS, VM_MAX_DISKS, VM_MAX_NICS, BATCH_MAX);
}

/* "PATH[,ro][,cow]"; the path is everything before the first comma. argv is left alone: the
 * path is copied into the config. */
static int parse_disk(const char *arg, struct disk_cfg *d, struct err *e)
{
	const char *opts = strchr(arg, ',');
	size_t plen = opts ? (size_t)(opts - arg) : strlen(arg);
	if (!plen)
		return err_set(e, -EINVAL, "--disk: empty file name");
	if (plen >= DISK_PATH_MAX)
		return err_set(e, -EINVAL, "--disk: file name longer than %d bytes",
		               DISK_PATH_MAX - 1);
	*d = (struct disk_cfg){0};
	while (opts && *opts) {
		opts++;
		size_t n = strcspn(opts, ",");
		if (n == 2 && !strncmp(opts, "ro", 2))
			d->ro = true;
		else if (n == 3 && !strncmp(opts, "cow", 3))
			d->cow = true;
		else
			return err_set(e, -EINVAL, "--disk %s: unknown option '%.*s' (ro, cow)",
			               arg, (int)n, opts);
		opts += n;
	}
	if (d->ro && d->cow)
		return err_set(e, -EINVAL, "--disk %s: ro and cow exclude each other", arg);
	memcpy(d->path, arg, plen);
	d->path[plen] = 0;
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (!s || strlen(s) != 17)
		return -EINVAL;
	/* Exactly hh:hh:hh:hh:hh:hh; sscanf's %x alone would take "+2", " 2" or "-1". */
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)
		return -EINVAL; /* multicast */
	return 0;
}

int config_parse(struct cli *c, int argc, char **argv, struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->vm.mem_size = DEFAULT_MEM;
	c->vm.cpus = 1;
	c->verbosity = 1;
	optind = 0; /* GNU: full re-initialisation, so tests can parse many times */
	opterr = 0;
	int ch;
	uint64_t v;
	const char *snap_at = NULL, *fixed = NULL; /* fixed: a flag --restore cannot take */
	while ((ch = getopt_long(argc, argv, ":k:i:c:m:p:t:n:qvhV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_SNAPSHOT:
			if (!*optarg)
				return err_set(e, -EINVAL, "--snapshot: empty directory name");
			c->snap.dir = optarg;
			break;
		case OPT_SNAPSHOT_AT:
			snap_at = optarg;
			if (snapshot_parse_at(optarg, &c->snap, e) < 0)
				return -EINVAL;
			break;
		case OPT_SNAPSHOT_THEN:
			if (strcmp(optarg, "continue") && strcmp(optarg, "stop"))
				return err_set(e, -EINVAL,
				               "--snapshot-then: '%s' is not continue or stop",
				               optarg);
			c->snap.stop_after = !strcmp(optarg, "stop");
			break;
		case OPT_RESTORE:
			if (!*optarg)
				return err_set(e, -EINVAL, "--restore: empty directory name");
			c->restore = optarg;
			break;
		case 'k':
			fixed = "--kernel";
			if (!*optarg)
				return err_set(e, -EINVAL, "--kernel: empty file name");
			c->vm.kernel_path = optarg;
			break;
		case 'i':
			fixed = "--initrd";
			if (!*optarg)
				return err_set(e, -EINVAL, "--initrd: empty file name");
			c->vm.initrd_path = optarg;
			break;
		case 'c':
			fixed = "--cmdline";
			c->vm.cmdline = optarg;
			break;
		case 'm':
			fixed = "--mem";
			if (parse_size(optarg, &v) < 0)
				return err_set(e, -EINVAL,
				               "--mem: '%s' is not a size (e.g. 128M, 1G)", optarg);
			if (v < VM_MIN_MEM || v > VM_MAX_MEM)
				return err_set(e, -EINVAL, "--mem: '%s' is outside 2M-%lluG",
				               optarg, (unsigned long long)(VM_MAX_MEM / GiB));
			if (v % (4 * KiB))
				return err_set(e, -EINVAL, "--mem: '%s' is not a multiple of 4K",
				               optarg);
			c->vm.mem_size = v;
			break;
		case 'p':
			fixed = "--cpus";
			if (parse_uint(optarg, 1, VM_MAX_CPUS, &v) < 0)
				return err_set(e, -EINVAL,
				               "--cpus: '%s' is not a number from 1 to %d", optarg,
				               VM_MAX_CPUS);
			c->vm.cpus = (unsigned)v;
			break;
		case 't':
			if (parse_seconds(optarg, &v) < 0)
				return err_set(
				        e, -EINVAL,
				        "--timeout: '%s' is not a positive number of seconds "
				        "(at most a year)",
				        optarg);
			c->vm.timeout_ms = v;
			break;
		case OPT_STOP_GRACE:
			v = 0;
			if (strcmp(optarg, "0") && parse_seconds(optarg, &v) < 0)
				return err_set(e, -EINVAL,
				               "--stop-grace: '%s' is not a number of seconds "
				               "(0 to a year)",
				               optarg);
			c->stop_on_signal = true;
			c->vm.stop_grace_ms = v;
			break;
		case OPT_JSON:
			c->vm.json = true;
			break;
		case OPT_TIMINGS:
			c->timings = true;
			break;
		case OPT_DISK:
			fixed = "--disk";
			if (c->vm.ndisks >= VM_MAX_DISKS)
				return err_set(e, -EINVAL, "--disk: at most %d disks",
				               VM_MAX_DISKS);
			if (parse_disk(optarg, &c->vm.disk[c->vm.ndisks], e) < 0)
				return -EINVAL;
			c->vm.ndisks++;
			break;
		case OPT_NET:
			fixed = "--net";
			if (!strcmp(optarg, "none"))
				break;
			if (strcmp(optarg, "tap") && strncmp(optarg, "tap=", 4))
				return err_set(e, -EINVAL,
				               "--net: '%s' is not tap, tap=NAME or none", optarg);
			if (optarg[3] == '=' && (!optarg[4] || strlen(optarg + 4) >= 16))
				return err_set(e, -EINVAL,
				               "--net: '%s': interface names have 1-15 characters",
				               optarg);
			if (c->vm.nnets >= VM_MAX_NICS)
				return err_set(e, -EINVAL, "--net: at most %d NICs", VM_MAX_NICS);
			c->vm.net[c->vm.nnets++].tap = optarg[3] == '=' ? optarg + 4 : NULL;
			break;
		case OPT_MAC:
			fixed = "--mac";
			if (parse_mac(optarg, c->vm.mac) < 0)
				return err_set(
				        e, -EINVAL,
				        "--mac: '%s' is not a unicast MAC like 52:54:00:12:34:56",
				        optarg);
			c->vm.mac_set = true;
			break;
		case OPT_IRQCHIP:
			if (!strcmp(optarg, "auto"))
				c->vm.irqchip = IRQCHIP_AUTO;
			else if (!strcmp(optarg, "kernel"))
				c->vm.irqchip = IRQCHIP_KERNEL;
			else if (!strcmp(optarg, "split"))
				c->vm.irqchip = IRQCHIP_SPLIT;
			else
				return err_set(e, -EINVAL,
				               "--irqchip: '%s' is not auto, kernel or split",
				               optarg);
			break;
		case OPT_HUGEPAGES:
			c->vm.hugepages = true;
			break;
		case OPT_JAIL: {
			const char *cg = c->vm.jail.cgroup;
			if (jail_parse(&c->vm.jail, optarg, e->msg, sizeof(e->msg)) < 0)
				return -EINVAL;
			c->vm.jail.cgroup = cg;
			break;
		}
		case OPT_JAIL_CGROUP:
			if (strcmp(optarg, "none") != 0 && optarg[0] != '/')
				return err_set(e, -EINVAL,
				               "--jail-cgroup: '%s' is neither an absolute path "
				               "nor 'none'",
				               optarg);
			c->vm.jail.cgroup = optarg;
			break;
		case OPT_DISCOVERY:
			fixed = "--virtio-discovery";
			if (!strcmp(optarg, "auto"))
				c->vm.discovery = DISCOVERY_AUTO;
			else if (!strcmp(optarg, "cmdline"))
				c->vm.discovery = DISCOVERY_CMDLINE;
			else if (!strcmp(optarg, "acpi"))
				c->vm.discovery = DISCOVERY_ACPI;
			else if (!strcmp(optarg, "both"))
				c->vm.discovery = DISCOVERY_BOTH;
			else
				return err_set(
				        e, -EINVAL,
				        "--virtio-discovery: '%s' is not auto, cmdline, acpi or "
				        "both",
				        optarg);
			break;
		case 'q':
			c->vm.quiet = true;
			break;
		case 'n':
			if (parse_uint(optarg, 1, BATCH_MAX, &v) < 0)
				return err_set(e, -EINVAL,
				               "-n: '%s' is not a number of instances from 1 to %d",
				               optarg, BATCH_MAX);
			c->n = (unsigned)v;
			break;
		case OPT_PARALLEL:
			if (parse_uint(optarg, 1, BATCH_MAX, &v) < 0)
				return err_set(e, -EINVAL,
				               "--parallel: '%s' is not a number from 1 to %d",
				               optarg, BATCH_MAX);
			c->parallel = (unsigned)v;
			break;
		case OPT_LOG_DIR:
			if (!*optarg)
				return err_set(e, -EINVAL, "--log-dir: empty directory name");
			c->log_dir = optarg;
			break;
		case OPT_CONSOLE:
			c->console = true;
			break;
		case OPT_READY:
			if (!*optarg)
				return err_set(e, -EINVAL, "--ready: empty pattern");
			c->ready = optarg;
			break;
		case OPT_PLOT:
			if (!*optarg)
				return err_set(e, -EINVAL, "--plot: empty file name");
			c->plot = optarg;
			break;
		case OPT_NO_SANDBOX:
			c->no_sandbox = true;
			break;
		case 'v':
			c->verbosity++;
			break;
		case 'h':
			return CONFIG_HELP;
		case 'V':
			return CONFIG_VERSION;
		case ':':
			return err_set(e, -EINVAL, "%s: needs a value", argv[optind - 1]);
		default:
			return err_set(e, -EINVAL, "%s: unknown option (see --help)",
			               argv[optind - 1]);
		}
	}
	if (optind < argc)
		return err_set(e, -EINVAL, "'%s': unexpected argument (see --help)", argv[optind]);
	if (!c->n) {
		const char *batch_only = c->parallel  ? "--parallel"
		                         : c->log_dir ? "--log-dir"
		                         : c->console ? "--console"
		                         : c->ready   ? "--ready"
		                         : c->plot    ? "--plot"
		                                      : NULL;
		if (batch_only)
			return err_set(e, -EINVAL, "%s: only with -n (batch mode)", batch_only);
	}
	if (c->stop_on_signal && c->n)
		return err_set(e, -EINVAL,
		               "--stop-grace: not with -n (a batch's instances stop when its "
		               "launcher is signalled)");
	if (c->restore && fixed)
		return err_set(e, -EINVAL,
		               "%s: not with --restore (the snapshot fixes the "
		               "configuration)",
		               fixed);
	if (c->restore && c->snap.dir)
		return err_set(e, -EINVAL, "--snapshot: not with --restore");
	if (!c->snap.dir && (snap_at || c->snap.stop_after))
		return err_set(e, -EINVAL, "%s: only with --snapshot DIR",
		               snap_at ? "--snapshot-at" : "--snapshot-then");
	if (c->snap.dir && c->n)
		return err_set(e, -EINVAL,
		               "--snapshot: not with -n (snapshot one VM, restore "
		               "it with --restore DIR -n N)");
	if (c->snap.dir && c->vm.jail.on)
		return err_set(e, -EINVAL,
		               "--snapshot: not with --jail (the jail's user cannot write the "
		               "snapshot directory; jail the restores)");
	if (c->snap.dir && !snap_at)
		c->snap.at = SNAP_AT_READY;
	if (c->console && c->log_dir)
		return err_set(e, -EINVAL, "--console: cannot be combined with --log-dir");
	/* A tap name template must fit for the largest instance id it is expanded with. */
	for (unsigned i = 0; i < c->vm.nnets; i++) {
		char name[IFNAMSIZ];
		unsigned last = c->n ? c->n - 1 : 0;
		if (c->vm.net[i].tap && virtio_tap_name(c->vm.net[i].tap, last, name) < 0)
			return err_set(e, -EINVAL,
			               "--net tap=%s: longer than 15 characters for instance %u",
			               c->vm.net[i].tap, last);
	}
	if (c->vm.jail.cgroup && !c->vm.jail.on)
		return err_set(e, -EINVAL, "--jail-cgroup: only with --jail");
	if (c->vm.hugepages && c->vm.mem_size % (2 * MiB))
		return err_set(e, -EINVAL, "--hugepages: --mem must be a multiple of 2 MiB");
	if (!c->vm.cmdline)
		c->vm.cmdline = DEFAULT_CMDLINE;
	return CONFIG_RUN;
}

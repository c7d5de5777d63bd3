/* vmm/config.c — argv → struct cli (getopt_long). Pure: reports, never prints or exits. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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

enum { OPT_JSON = 256, OPT_TIMINGS, OPT_PARALLEL, OPT_LOG_DIR, OPT_CONSOLE, OPT_READY, OPT_PLOT };

static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'},
        {"mem", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timings", no_argument, NULL, OPT_TIMINGS},
        {"quiet", no_argument, NULL, 'q'},
        {"instances", required_argument, NULL, 'n'},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"log-dir", required_argument, NULL, OPT_LOG_DIR},
        {"console", no_argument, NULL, OPT_CONSOLE},
        {"ready", required_argument, NULL, OPT_READY},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

void config_usage(FILE *out)
{
	fprintf(out,
	        "usage: fastvmm [--kernel FILE] [options]\n"
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
	        "      --json           print stage timings and the outcome as JSON on stdout\n"
	        "                       (the guest console then goes to stderr)\n"
	        "      --timings        print the stage timings to stderr after the run\n"
	        "  -q, --quiet          discard the guest console\n"
	        "  -n, --instances N    batch: launch N instances, one process each (1-%d),\n"
	        "                       then print the boot-time report (see README)\n"
	        "      --parallel P     batch: at most P instances in flight (default: all)\n"
	        "      --log-dir DIR    batch: consoles to DIR/vm-<i>.log (default: a new\n"
	        "                       directory under $TMPDIR or /tmp)\n"
	        "      --console        batch: stream consoles, lines prefixed \"[i] \"\n"
	        "      --ready REGEX    batch: a console line matching REGEX marks ready\n"
	        "      --plot FILE      batch: draw the timeline as SVG to FILE\n"
	        "  -v, --verbose        more diagnostics (repeatable)\n"
	        "  -h, --help           this help\n"
	        "  -V, --version        version\n\n"
	        "Exit status: the guest's exit code (fastvmm guests), 0 after a clean shutdown,\n"
	        "2 bad arguments or files, 70 host failure, 124 timeout, 125 guest crash,\n"
	        "126 KVM could not run the guest. Batch: 0 if every instance succeeded, else 1;\n"
	        "128+signal when interrupted.\n",
	        VM_MAX_CPUS, BATCH_MAX);
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
	while ((ch = getopt_long(argc, argv, ":k:i:c:m:p:t:n:qvhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (!*optarg)
				return err_set(e, -EINVAL, "--kernel: empty file name");
			c->vm.kernel_path = optarg;
			break;
		case 'i':
			if (!*optarg)
				return err_set(e, -EINVAL, "--initrd: empty file name");
			c->vm.initrd_path = optarg;
			break;
		case 'c':
			c->vm.cmdline = optarg;
			break;
		case 'm':
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
		case OPT_JSON:
			c->vm.json = true;
			break;
		case OPT_TIMINGS:
			c->timings = true;
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
	if (c->console && c->log_dir)
		return err_set(e, -EINVAL, "--console: cannot be combined with --log-dir");
	if (!c->vm.cmdline)
		c->vm.cmdline = DEFAULT_CMDLINE;
	return CONFIG_RUN;
}

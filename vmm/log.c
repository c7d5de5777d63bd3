/* vmm/log.c — "fastvmm: <what>: <why>" on stderr, one line each. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int log_level = 1;
static char prefix[64];

void log_set_prefix(const char *p)
{
	snprintf(prefix, sizeof(prefix), "%s", p ? p : "");
}

const char *log_vm(unsigned id)
{
	static _Thread_local char b[24];
	if (prefix[0])
		return ""; /* batch: the prefix already says "vm N: " */
	snprintf(b, sizeof(b), "vm %u: ", id);
	return b;
}

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "fastvmm: %s", prefix);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	/* One write so that lines from concurrent instances never interleave. */
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

#define LOGFN(name, lvl)                                                                           \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		if (log_level < (lvl))                                                             \
			return;                                                                    \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		vlog(fmt, ap);                                                                     \
		va_end(ap);                                                                        \
	}
LOGFN(log_err, 0)
LOGFN(log_warn, 1)
LOGFN(log_info, 2)
LOGFN(log_debug, 3)

/* include/log.h — one way to print errors: "fastvmm: <what>: <why>" on stderr.
 * Library code reports with log_err() and returns -errno; only main.c/batch.c exit. */
#ifndef FASTVMM_LOG_H
#define FASTVMM_LOG_H

#include "cc.h"

/* Verbosity: 0 = errors only, 1 = warnings (default), 2 = info, 3 = debug. */
extern int log_level;

void log_err(const char *fmt, ...) PRINTF(1, 2);
void log_warn(const char *fmt, ...) PRINTF(1, 2);
void log_info(const char *fmt, ...) PRINTF(1, 2);
void log_debug(const char *fmt, ...) PRINTF(1, 2);

/* Optional prefix such as "vm 7: " set per process in batch mode. */
void log_set_prefix(const char *prefix);
/* "vm N: " to start a message about VM N, or "" when the prefix already names it. */
const char *log_vm(unsigned id);

#endif

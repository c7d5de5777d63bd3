/* Shared by the unit tests of the command line (vmm/config.c): parse an argv given inline
 * into c and e, and check a refusal with its exact message. */
#ifndef FASTVMM_TESTS_CLI_PARSE_H
#define FASTVMM_TESTS_CLI_PARSE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static struct cli c;
static struct err e;

/* config_parse() on {"fastvmm", args...}; yields its return value. */
#define PARSE(...)                                                                                 \
	({                                                                                         \
		char *argv[] = {"fastvmm", __VA_ARGS__, NULL};                                     \
		memset(&e, 0, sizeof(e));                                                          \
		config_parse(&c, (int)ARRAY_SIZE(argv) - 1, argv, &e);                             \
	})

/* The arguments are refused (-EINVAL) with exactly the message want. */
#define REJ(want, ...)                                                                             \
	do {                                                                                       \
		assert_int_equal(PARSE(__VA_ARGS__), -EINVAL);                                     \
		assert_string_equal(e.msg, want);                                                  \
	} while (0)

#endif

/* Unit tests for the build-time seccomp filters (vmm/sandbox.c, vmm/gen/sandbox_gen.c): each
 * role's precompiled program, with this process's pid patched in, is exactly what libseccomp
 * compiles from the rules now; the patch touches only the placeholder's comparisons. */
#include <errno.h>
#include <linux/filter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN 1
#endif
#endif
#ifndef SAN
#define SAN 0
#endif

static void precompiled_filters_are_libseccomps(void **state)
{
	(void)state;
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		unsigned n, pids;
		const struct sock_filter *pre = sandbox_precompiled(role, &n, &pids);
		assert_non_null(pre);
		assert_true(n > 0 && n <= BPF_MAXINSNS);
		struct sock_filter *mine = malloc(n * sizeof(*mine));
		assert_non_null(mine);
		memcpy(mine, pre, n * sizeof(*mine));
		assert_int_equal(sandbox_patch_pid(mine, n, (uint32_t)getpid()), pids);
		/* Every role but serve limits tgkill to our own pid; a sanitizer build allows it
		 * to any (LeakSanitizer's stop-the-world), which drops the comparison. */
		assert_int_equal(pids, role == SANDBOX_SERVE || SAN ? 0 : 1);
		FILE *f = tmpfile();
		assert_non_null(f);
		assert_int_equal(sandbox_export(role, SAN, (uint32_t)getpid(), fileno(f)), 0);
		struct stat st; /* written to the fd itself, not through f's buffer */
		assert_int_equal(fstat(fileno(f), &st), 0);
		assert_int_equal(st.st_size, n * sizeof(*mine));
		rewind(f);
		struct sock_filter *now = malloc(n * sizeof(*now));
		assert_non_null(now);
		assert_int_equal(fread(now, sizeof(*now), n, f), n);
		if (memcmp(mine, now, n * sizeof(*now)))
			fail_msg("role %s: the build-time filter differs from libseccomp's",
			         sandbox_role_name(role));
		fclose(f);
		free(mine);
		free(now);
	}
}

static void patch_touches_only_placeholder_comparisons(void **state)
{
	(void)state;
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_PID_PLACEHOLDER, 0, 1),
	        BPF_STMT(BPF_LD | BPF_IMM, SANDBOX_PID_PLACEHOLDER),
	        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, SANDBOX_PID_PLACEHOLDER, 0, 1),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4242, 0, 1),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_PID_PLACEHOLDER, 1, 0),
	};
	assert_int_equal(sandbox_patch_pid(f, 6, 77), 2);
	assert_int_equal(f[1].k, 77);
	assert_int_equal(f[2].k, SANDBOX_PID_PLACEHOLDER);
	assert_int_equal(f[3].k, SANDBOX_PID_PLACEHOLDER);
	assert_int_equal(f[4].k, 4242);
	assert_int_equal(f[5].k, 77);
	assert_int_equal(f[5].jt, 1);
	assert_int_equal(sandbox_patch_pid(f, 6, 78), 0); /* nothing left to patch */
}

static void export_refuses_a_bad_role(void **state)
{
	(void)state;
	assert_int_equal(sandbox_export(SANDBOX_NROLES, false, 1, 1), -EINVAL);
	unsigned n, p;
	assert_null(sandbox_precompiled(SANDBOX_NROLES, &n, &p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(precompiled_filters_are_libseccomps),
	        cmocka_unit_test(patch_touches_only_placeholder_comparisons),
	        cmocka_unit_test(export_refuses_a_bad_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/boot/subreap.c — subreap CMD ARGS...: runs CMD (stdout and stderr to /dev/null) as a
 * child subreaper, waits for it, then for every descendant it left behind, and prints
 * "rc=STATUS descendants-after-exit=N" (STATUS negative for a signal, as Python's returncode).
 * Used by tests/boot/t_irqchip.sh: compiled there with cc, or carried into the nested
 * harness's L1 statically linked as /bin/fvsubreap (L1 has no python3 and no cc). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: subreap CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("subreap: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("subreap: fork");
		return 2;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("subreap: waitpid");
			return 2;
		}
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	unsigned extra = 0;
	for (;;) {
		if (wait(NULL) >= 0)
			extra++;
		else if (errno != EINTR)
			break; /* ECHILD: nothing left */
	}
	printf("rc=%d descendants-after-exit=%u\n", rc, extra);
	return 0;
}

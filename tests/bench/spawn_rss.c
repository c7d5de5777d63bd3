/* tests/bench/spawn_rss.c CMD ARGS... — run CMD as a child subreaper would, wait for it and
 * every descendant it leaves, print the peak RSS (KiB) over all of them. A child forked from
 * this tiny static process carries ~no RSS of its own into exec, unlike one forked from
 * Python (ru_maxrss counts the pre-exec image too). Prints "maxrss_kb=N status=S". */
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[1], argv + 1);
		_exit(127);
	}
	long max = 0;
	int status = 0, st;
	struct rusage ru;
	pid_t p;
	while ((p = wait4(-1, &st, 0, &ru)) > 0) {
		if (ru.ru_maxrss > max)
			max = ru.ru_maxrss;
		if (p == pid)
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	printf("maxrss_kb=%ld status=%d\n", max, status);
	return 0;
}

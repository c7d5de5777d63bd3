/* vmm/iothread.c — one I/O thread per VM: epoll over ioeventfds, the io_uring completion
 * eventfd and tap fds. It sleeps in epoll_wait while the guest is idle (no polling). Handlers
 * take their device's lock themselves. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cc.h"
#include "log.h"
#include "sandbox.h"
#include "virtio.h"

int iothread_init(struct iothread *io)
{
	memset(io, 0, sizeof(*io));
	io->stop_fd = -1;
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (io->epfd < 0)
		return -errno;
	io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->stop_fd < 0) {
		int r = -errno;
		close(io->epfd);
		io->epfd = -1;
		return r;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->stop_fd, &ev) < 0)
		return -errno;
	return 0;
}

struct iothread_handler *iothread_add(struct iothread *io, int fd, uint32_t events, iothread_fn fn,
                                      void *opaque)
{
	if (io->nh >= ARRAY_SIZE(io->h)) {
		errno = ENOSPC;
		return NULL;
	}
	struct iothread_handler *h = &io->h[io->nh];
	*h = (struct iothread_handler){.fd = fd, .fn = fn, .opaque = opaque};
	struct epoll_event ev = {.events = events, .data.ptr = h};
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return NULL;
	io->nh++;
	return h;
}

int iothread_mod(struct iothread *io, struct iothread_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};
	return epoll_ctl(io->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0 ? -errno : 0;
}

static void *iothread_main(void *arg)
{
	struct iothread *io = arg;
	/* First, before any guest-driven work reaches this thread. */
	int r = sandbox_apply(SANDBOX_IO);
	if (r < 0) {
		if (io->on_error)
			io->on_error(io->err_arg, r);
		return NULL;
	}
	sandbox_selftest(SANDBOX_IO);
	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(io->epfd, ev, (int)ARRAY_SIZE(ev), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("I/O thread: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct iothread_handler *h = ev[i].data.ptr;
			if (!h)
				return NULL; /* stop_fd */
			h->fn(h->opaque, ev[i].events);
		}
	}
}

int iothread_start(struct iothread *io)
{
	int r = pthread_create(&io->thread, NULL, iothread_main, io);
	if (r)
		return -r;
	io->started = true;
	return 0;
}

void iothread_stop(struct iothread *io)
{
	if (io->started) {
		uint64_t one = 1;
		(void)!write(io->stop_fd, &one, sizeof(one));
		pthread_join(io->thread, NULL);
		io->started = false;
	}
	if (io->stop_fd >= 0)
		close(io->stop_fd);
	if (io->epfd >= 0)
		close(io->epfd);
	io->stop_fd = io->epfd = -1;
}

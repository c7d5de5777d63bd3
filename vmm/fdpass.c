/* vmm/fdpass.c — descriptors over an AF_UNIX socket (include/fdpass.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

union cmsg_buf {
	struct cmsghdr align;
	char b[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

ssize_t fd_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds, int flags)
{
	if (nfds > FDPASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	union cmsg_buf c;
	memset(&c, 0, sizeof(c));
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		mh.msg_control = c.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, flags);
}

ssize_t fd_recv(int sock, void *buf, size_t len, int *fds, unsigned max, unsigned *nfds,
                int *truncated, int flags)
{
	union cmsg_buf c;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = c.b,
	                    .msg_controllen = sizeof(c.b)};
	for (unsigned i = 0; i < max; i++)
		fds[i] = -1;
	*nfds = 0;
	*truncated = 0;
	ssize_t n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (*nfds < max)
				fds[*nfds] = fd;
			else
				close(fd);
			++*nfds;
		}
	}
	*truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || *nfds > max;
	return n;
}

/* include/fdpass.h — descriptors over an AF_UNIX socket (SCM_RIGHTS), in one place for every
 * front end: the daemon's snapshot orders to its instances (vmm/serve.c → vmm/instance.c) and
 * the OCI runtime's console master to --console-socket (vmm/oci.c). */
#ifndef FASTVMM_FDPASS_H
#define FASTVMM_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 4 /* descriptors in one message, either way */

/* Send len bytes of buf with nfds (≤ FDPASS_MAX) descriptors. sendmsg()'s result: the bytes
 * sent, or -1 with errno. */
ssize_t fd_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds, int flags);

/* Receive one message into buf (up to len bytes) and up to max descriptors into fds
 * (MSG_CMSG_CLOEXEC; the rest of the array is -1). *nfds is how many came, also beyond max:
 * those are closed here, so a sender cannot leak descriptors into the receiver. *truncated is
 * set if the data or the descriptors did not fit. recvmsg()'s result: bytes, 0 at the peer's
 * hang-up, or -1 with errno. */
ssize_t fd_recv(int sock, void *buf, size_t len, int *fds, unsigned max, unsigned *nfds,
                int *truncated, int flags);

#endif

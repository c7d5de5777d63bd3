#!/usr/bin/env python3
"""tests/oci/helper.py — what an engine does around an OCI runtime, for tests without one.

  helper.py reap SCRIPT      run SCRIPT (bash) as a child subreaper, as containerd's shim and
                             conmon are; then reap every orphan and print "reaped PID STATUS"
                             (STATUS = exit code, or 128+signal).
  helper.py console SOCK OUT accept one connection on the AF_UNIX socket SOCK, take the pty
                             master passed with SCM_RIGHTS (runc's console-socket protocol)
                             and copy what it yields to OUT until it hangs up.
"""
import ctypes, os, socket, subprocess, sys

PR_SET_CHILD_SUBREAPER = 36


def reap(script):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("helper: prctl(PR_SET_CHILD_SUBREAPER) failed")
    rc = subprocess.run(["bash", "-c", script]).returncode
    print(f"script {rc}", flush=True)
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        code = os.waitstatus_to_exitcode(st)
        print(f"reaped {pid} {code if code >= 0 else 128 - code}", flush=True)


def console(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    s.settimeout(30)
    c, _ = s.accept()
    msg, fds, _, _ = socket.recv_fds(c, 256, 1)
    if not fds:
        sys.exit("helper: no fd received")
    with open(out, "wb", buffering=0) as f:
        f.write(b"pty " + msg + b"\n")
        while True:
            try:
                b = os.read(fds[0], 4096)
            except OSError:  # EIO: the last slave fd closed
                break
            if not b:
                break
            f.write(b)


if __name__ == "__main__":
    if sys.argv[1] == "reap":
        reap(sys.argv[2])
    elif sys.argv[1] == "console":
        console(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""tests/boot/serve_client.py — what curl cannot do against `fastvmm serve`'s socket.

  serve_client.py SOCK raw HEX-OR-TEXT        send bytes as they are, print the status line
  serve_client.py SOCK slow SECONDS           send half a request line and stall; print how
                                              long until the daemon closed the connection
  serve_client.py SOCK flood N PATH           open N connections at once, send GET PATH on
                                              each, print "200=a 503=b closed=c other=d s=T"
  serve_client.py SOCK burst N BODY           N POST /vms on one keep-alive connection, as
                                              fast as possible; print one JSON reply a line
"""
import json
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_reply(s, deadline):
    """One HTTP response (Content-Length bodies only): (status, body) or (None, b'')."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            d = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None, b""
        if not d:
            return None, b""
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    n = 0
    for l in lines[1:]:
        k, _, v = l.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v.strip())
    while len(body) < n:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            d = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not d:
            break
        body += d
    return status, body[:n]


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    if cmd == "raw":
        s = connect(path)
        s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin1"))
        st, body = read_reply(s, time.time() + 10)
        print(st if st else "closed", body.decode(errors="replace").strip())
    elif cmd == "slow":
        s = connect(path)
        s.sendall(b"GET /metr")
        t0 = time.time()
        s.settimeout(float(sys.argv[3]))
        try:
            while s.recv(4096):
                pass
            print("closed after %.1f s" % (time.time() - t0))
        except socket.timeout:
            print("still open after %.1f s" % (time.time() - t0))
    elif cmd == "flood":
        n, req = int(sys.argv[3]), sys.argv[4]
        t0 = time.time()
        socks = []
        refused = 0
        for _ in range(n):
            try:
                socks.append(connect(path))
            except OSError:
                refused += 1
        msg = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % req).encode()
        for s in socks:
            try:
                s.sendall(msg)
            except OSError:
                pass
        counts = {"200": 0, "503": 0, "closed": refused, "other": 0}
        deadline = time.time() + 60
        for s in socks:
            st, _ = read_reply(s, deadline)
            k = "closed" if st is None else str(st) if str(st) in counts else "other"
            counts[k] += 1
            s.close()
        print("200=%d 503=%d closed=%d other=%d s=%.2f" %
              (counts["200"], counts["503"], counts["closed"], counts["other"],
               time.time() - t0))
    elif cmd == "burst":
        n, body = int(sys.argv[3]), sys.argv[4].encode()
        s = connect(path)
        for _ in range(n):
            s.sendall(b"POST /vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            st, reply = read_reply(s, time.time() + 30)
            print(json.dumps({"status": st, "reply": json.loads(reply or b"{}")}))
    else:
        sys.exit("serve_client.py: unknown command " + cmd)


if __name__ == "__main__":
    main()

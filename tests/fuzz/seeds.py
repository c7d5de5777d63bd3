#!/usr/bin/env python3
"""tests/fuzz/seeds.py OUTDIR GUESTDIR — seed corpora for the fuzz targets, built from the
same inputs the unit and boot tests use: the built guests (kernel), a driver handshake and
the requests of tests/unit/test_virtio_{blk,net}.c (mmio_*), the rings of test_virtqueue.c
(virtqueue), the command lines of the boot tests (cli). Written fresh on every run."""
import glob
import os
import shutil
import struct
import sys

out, guests = sys.argv[1], sys.argv[2]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# kernel: every built guest (ELF 64-bit entry and PVH) and a truncated one.
os.makedirs(os.path.join(out, "kernel"), exist_ok=True)
for g in sorted(glob.glob(os.path.join(guests, "*.elf"))):
    shutil.copy(g, os.path.join(out, "kernel", os.path.basename(g)))

RAM = 64 << 10
# Queue q: descriptors at 0x1000 q, avail +0x800, used +0xc00; a request's parts after them.
DESC, AVAIL, USED, HDR, STATUS, DATA = 0x0, 0x800, 0xc00, 0x2000, 0x2100, 0x2200
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def desc(ram, table, i, addr, length, flags, nxt):
    struct.pack_into("<QIHH", ram, table + 16 * i, addr, length, flags, nxt)


def offer(ram, avail, heads):
    for k, h in enumerate(heads):
        struct.pack_into("<H", ram, avail + 4 + 2 * k, h)
    struct.pack_into("<H", ram, avail + 2, len(heads))


# virtqueue: geometry + RAM with direct and indirect chains.
for indirect in (0, 1):
    ram = bytearray(16 << 10)
    desc(ram, DESC, 0, HDR, 16, F_NEXT, 1)
    desc(ram, DESC, 1, DATA, 512, F_NEXT | F_WRITE, 2)
    desc(ram, DESC, 2, STATUS, 1, F_WRITE, 0)
    if indirect:
        desc(ram, DESC, 3, 0x400, 48, F_INDIRECT, 0)
        desc(ram, 0x400, 0, HDR, 16, F_NEXT, 1)
        desc(ram, 0x400, 1, DATA, 4096, F_NEXT | F_WRITE, 2)
        desc(ram, 0x400, 2, STATUS, 1, F_WRITE, 0)
    offer(ram, AVAIL, [0, 3] if indirect else [0])
    geo = struct.pack("<HIIIHB", 8, DESC, AVAIL, USED, 0, indirect)
    put("virtqueue", "chain%d" % indirect, geo + bytes(ram))


# mmio_*: a driver handshake, queues, requests, notifies and polls.
def wr(off, val):
    return struct.pack("<BHI", 0, off, val)


def handshake(nq, feat_lo):
    ops = wr(0x70, 0) + wr(0x70, 1) + wr(0x70, 3)
    ops += wr(0x24, 0) + wr(0x20, feat_lo) + wr(0x24, 1) + wr(0x20, 1) + wr(0x70, 11)
    for q in range(nq):
        base = DESC + 0x1000 * q
        ops += wr(0x30, q) + wr(0x38, 8) + wr(0x80, base) + wr(0x90, base + 0x800)
        ops += wr(0xa0, base + 0xc00) + wr(0x44, 1)
    return ops + wr(0x70, 15)


def notify(q):
    return struct.pack("<BB", 6, q)


POLL = b"\x07"
for mode in (0, 1, 2):
    for rtype, sector, datalen in ((0, 0, 4096), (1, 8, 1024), (4, 0, 0), (8, 0, 20),
                                   (13, 0, 16), (11, 0, 16), (0, 127, 512), (77, 0, 0)):
        ram = bytearray(16 << 10)
        struct.pack_into("<IIQ", ram, HDR, rtype, 0, sector)
        if rtype in (11, 13):
            struct.pack_into("<QII", ram, DATA, 1, 2, 0)
        n = 0
        desc(ram, DESC, n, HDR, 16, F_NEXT, n + 1)
        n += 1
        if datalen:
            w = F_WRITE if rtype in (0, 8) else 0
            desc(ram, DESC, n, DATA, datalen, F_NEXT | w, n + 1)
            n += 1
        desc(ram, DESC, n, STATUS, 1, F_WRITE, 0)
        offer(ram, AVAIL, [0])
        ops = handshake(1, 0x7fffffff) + notify(0) + POLL + notify(0) + POLL
        put("mmio_blk", "req-m%d-t%d-s%d" % (mode, rtype, sector),
            bytes([mode]) + struct.pack("<H", len(ram)) + bytes(ram) + ops)

ram = bytearray(16 << 10)
desc(ram, DESC, 0, DATA, 2048, F_WRITE, 0)               # rx buffer
offer(ram, AVAIL, [0])
desc(ram, 0x1000, 0, DATA + 0x1000, 12 + 60, 0, 0)  # tx packet
offer(ram, 0x1800, [0])
ops = handshake(2, 0x7fffffff) + notify(0) + notify(1) + POLL + notify(0) + POLL
put("mmio_net", "rxtx", struct.pack("<H", len(ram)) + bytes(ram) + ops)
put("mmio_net", "rxtx-nofeat", struct.pack("<H", len(ram)) + bytes(ram) +
    handshake(2, 0) + notify(1) + notify(0) + POLL)

# cli: the command lines of the boot tests.
for i, argv in enumerate([
        ["--kernel", "k.elf", "--cmdline", "console=ttyS0 x={id}", "-n", "3", "--parallel", "2"],
        ["--mem", "128M", "--cpus", "4", "--timeout", "0.5", "--json", "--timings"],
        ["--disk", "a.img,cow", "--disk", "b.img,ro", "--net", "tap=fv%u", "--mac",
         "52:54:00:12:34:56", "-n", "10", "--log-dir", "d"],
        ["--virtio-discovery", "both", "--ready", "^ready$", "-n", "2", "--plot", "p.svg"],
        ["-k", "x", "-q", "-v", "-v", "--console", "-n", "5", "--no-sandbox"]]):
    put("cli", "argv%d" % i, b"\0".join(a.encode() for a in argv))

# boot_info: RAM size, CPUs, devices (base, size, gsi), DSDT room, disks/NICs, a cmdline.
for i, (ram, cpus, ndev) in enumerate(((128 << 20, 1, 0), (8 << 20, 4, 3), (2 << 20, 64, 9),
                                       (1 << 20, 255, 11))):
    b = struct.pack("<IHB", ram, cpus, ndev)
    for k in range(ndev):
        b += struct.pack("<QIB", 0xd0000000 + 0x1000 * k, 0x1000, 5 + k)
    b += struct.pack("<HBB", 4000, 2, 1) + b"console=ttyS0 reboot=k panic=-1" + b"\xff\x01"
    put("boot_info", "cfg%d" % i, b)


# api: requests of tests/unit/test_api.c and t_serve.sh: method byte, path, NUL, body.
API = [
    (1, "/templates/hello", b'{"kernel": "/g/hello.elf", "mem": "16M", "cpus": 1, "pool": 2}'),
    (1, "/templates/blk", b'{"kernel": "/g/blk_rw.elf", "cmdline": "console=ttyS0 sector=77", '
        b'"disks": [{"path": "/tmp/d.img", "cow": true}], "nets": [{"tap": "fv%u"}], "timeout_ms": 5000}'),
    (2, "/vms", b'{"template": "hello", "cmdline_append": "exit=3", "wait": "exit", "timeout_ms": 2000}'),
    (2, "/vms", b'{"template": "hello", "mac": "52:54:00:12:34:56", "wait": "ready"}'),
    (0, "/vms/1/console", b""),
    (0, "/vms?state=exited", b""),
    (3, "/vms/7", b""),
    (3, "/templates/hello", b""),
    (0, "/metrics", b""),
    (2, "/vms", b'{"template": 1, "bogus": [}'),
]
for i, (m, path, body) in enumerate(API):
    put("api", "req%d" % i, bytes([m]) + path.encode() + b"\0" + body)

# oci: config.json of tests/unit/test_oci_bundle.c and tests/oci/*.sh, against fuzz_oci.c's
# bundle (rootfs: k.elf, initrd, img/d.img, a symlink "escape", a FIFO).
OCI = [
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/k.elf","exit=7"]}}',
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["x"],"env":["FASTVMM_KERNEL=/k.elf",'
    b'"FASTVMM_CMDLINE=a=b"]},"annotations":{"org.fastvmm.mem":"16M","org.fastvmm.cpus":"2",'
    b'"org.fastvmm.initrd":"/initrd","org.fastvmm.disks":"/img/d.img:ro,/img/d.img","org.fastvmm.timeout":"5"}}',
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/k.elf"]},"linux":{"cgroupsPath":"/a/b",'
    b'"resources":{"memory":{"limit":67108864},"cpu":{"quota":150000,"period":100000},"pids":{"limit":64}}}}',
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/pause"]},'
    b'"annotations":{"io.kubernetes.cri.container-type":"sandbox"}}',
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/escape"],"terminal":true,'
    b'"rlimits":[{"type":"RLIMIT_NOFILE","soft":1024,"hard":1024}]}}',
    b'{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["x"]},"annotations":'
    b'{"org.fastvmm.kernel":"/../k.elf"},"hooks":{"prestart":[]}}',
]
for i, c in enumerate(OCI):
    put("oci", "cfg%d" % i, c)

# snapshot: a version byte (bit 0: version 2), then a body: the configuration section of a
# 1-vCPU count.elf snapshot with a disk, each irqchip mode's section (the split one filled
# in; KVM's structures are left to the fuzzer, whose size checks it must find), the end.
def sec(t, payload):
    return struct.pack("<II", t, len(payload)) + payload


def s_str(s):
    return struct.pack("<I", len(s)) + s


for i, mode in enumerate((1, 2)):
    cfg = struct.pack("<IIQIIIIIIQ", 1, 0, 128 << 20, 1, mode, 1, 0, 1, 0, 123456)
    cfg += s_str(b"guests/count.elf") + s_str(b"to=12 snap=5")
    cfg += struct.pack("<IQ", 0, 1 << 20) + s_str(b"/tmp/disk.img")
    rte = [1 << 16] * 24
    rte[5] = 0x31
    split = struct.pack("<IIII", 24, 1, 0x10, 0) + struct.pack("<24Q", *rte) + bytes(
        [0xff, 0xff, 0, 0, 0, 0, 0, 0])
    body = sec(1, cfg)
    body += sec(10, struct.pack("<I", len(split)) + split) if mode == 2 else sec(2, b"")
    body += sec(3, b"") + sec(9, b"")
    put("snapshot", "state%d" % i, bytes([1 if mode == 2 else 0]) + body)

# ... and (bit 2) well-formed snapshots the target encodes itself, version 2, then mutates
# by XOR: 1-2 vCPUs, 0-2 disks, 0-1 NIC, each irqchip mode.
for cpus in range(2):
    for disks in range(3):
        for nics in range(2):
            for split in range(2):
                put("snapshot", "valid-%d-%d-%d-%s" % (cpus + 1, disks, nics, "split" if split else "kernel"),
                    bytes([5, cpus, disks, nics, split, 1]))

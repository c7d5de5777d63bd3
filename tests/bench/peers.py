#!/usr/bin/env python3
"""tests/bench/peers.py FASTVMM GUESTDIR — the launch table of issue 11, fastvmm against the
peers in ../shared/peers (solo5-hvt, kvmtool's lkvm, QEMU microvm), in ONE interleaved run:
every repetition measures every VMM in turn (A B C D ...), so a busy machine slows them all
alike and the ratios stay meaningful. Null guests, 16 MiB each. This process is a child
subreaper, so "until every descendant has exited" counts a VM's last process (a teardown
holder included). Medians of BENCH_PEER_REPS (default 7). Prints figures, asserts nothing.
"""
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

FASTVMM, GUESTS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SPAWN_RSS = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None  # tests/bench/spawn_rss.c
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.join(REPO, "..", "shared", "peers")
REPS = int(os.environ.get("BENCH_PEER_REPS", "7"))
N = 30
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER

NULL = f"{GUESTS}/null.elf"
vmms = {
    "/bin/true": ["/bin/true"],
    "fastvmm split": [FASTVMM, "--kernel", NULL, "-m", "16M", "-q", "--irqchip", "split"],
    "fastvmm kernel": [FASTVMM, "--kernel", NULL, "-m", "16M", "-q", "--irqchip", "kernel"],
}
notes = []
solo5 = os.path.join(PEERS, "bin", "solo5-hvt")
if os.access(solo5, os.X_OK):
    vmms["solo5-hvt"] = [solo5, "--mem=16", os.path.join(PEERS, "guests", "solo5-null.hvt"),
                         "--solo5:quiet"]
else:
    notes.append("solo5-hvt: absent (../shared/peers/bin/solo5-hvt), skipped")
lkvm = os.path.join(PEERS, "bin", "lkvm")
if os.access(lkvm, os.X_OK):
    vmms["lkvm"] = [lkvm, "run", "--kernel", os.path.join(PEERS, "guests", "lkvm-null.bin"),
                    "-m", "16", "-c", "1", "--console", "serial", "--nodefaults", "--network",
                    "mode=none", "--loglevel", "error"]
else:
    notes.append("lkvm: absent, skipped")
qemu = shutil.which("qemu-system-x86_64")
if qemu and os.path.exists(os.path.join(PEERS, "guests", "qemu-null-pvh.elf")):
    vmms["QEMU microvm"] = [
        qemu, "-M", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=off,acpi=off,"
        "ioapic2=off,auto-kernel-cmdline=off", "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "16M",
        "-nodefaults", "-no-user-config", "-display", "none", "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
        os.path.join(PEERS, "guests", "qemu-null-pvh.elf")]
else:
    notes.append("QEMU microvm: qemu-system-x86_64 or the guest absent, skipped")


def reap_all():
    """Wait for every remaining descendant (adopted by us as subreaper); peak RSS of them."""
    rss = 0
    while True:
        try:
            _, _, ru = os.wait4(-1, 0)
            rss = max(rss, ru.ru_maxrss)
        except ChildProcessError:
            return rss


def launch(cmds):
    """Spawn all at once. ms to the last direct exit, ms until every descendant is gone,
    peak RSS KiB over all processes, and the exit statuses."""
    t = time.perf_counter_ns()
    ps = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL) for c in cmds]
    rss, rcs = 0, []
    for p in ps:
        _, st, ru = os.wait4(p.pid, 0)
        rss = max(rss, ru.ru_maxrss)
        rcs.append(os.waitstatus_to_exitcode(st))
    t_exit = time.perf_counter_ns()
    rss = max(rss, reap_all())
    t_all = time.perf_counter_ns()
    return (t_exit - t) / 1e6, (t_all - t) / 1e6, rss, rcs


def in_a_row(cmd):
    t = time.perf_counter_ns()
    for _ in range(N):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
        reap_all()
    return (time.perf_counter_ns() - t) / 1e6


rows = {k: {"one": [], "one_all": [], "par": [], "row": [], "rss": [], "rc": set()}
        for k in vmms}
batch = {m: {"cmd": [], "all": [], "report": []} for m in ("split", "kernel")}
fv = {m: {"first_run": [], "spawn_first_run": [], "exits": []} for m in ("split", "kernel")}
for rep in range(REPS):
    for name, cmd in vmms.items():
        one, one_all, _, rcs = launch([cmd])
        r = rows[name]
        r["one"].append(one)
        r["one_all"].append(one_all)
        if SPAWN_RSS:
            o = subprocess.run([SPAWN_RSS] + cmd, capture_output=True, text=True).stdout
            if o.startswith("maxrss_kb="):
                r["rss"].append(int(o.split()[0].split("=")[1]))
        r["rc"].update(rcs)
        _, par_all, _, _ = launch([cmd] * N)
        r["par"].append(par_all)
        r["row"].append(in_a_row(cmd))
    for m in batch:
        t = time.perf_counter_ns()
        out = subprocess.run([FASTVMM, "--kernel", NULL, "-m", "16M", "-q", "-n", str(N),
                              "--irqchip", m, "--json"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
        t_cmd = time.perf_counter_ns()
        reap_all()
        t_all = time.perf_counter_ns()
        batch[m]["cmd"].append((t_cmd - t) / 1e6)
        batch[m]["all"].append((t_all - t) / 1e6)
        try:
            batch[m]["report"].append(json.loads(out.stdout)["wall_us"] / 1000)
        except (ValueError, KeyError):
            pass
        rfd, wfd = os.pipe()
        t_spawn = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        pid = os.posix_spawn(FASTVMM, [FASTVMM, "--kernel", NULL, "-m", "16M", "-q", "--json",
                                       "--irqchip", m], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, wfd, 1)])
        os.close(wfd)
        with os.fdopen(rfd) as f:
            d = json.loads(f.read())
        reap_all()
        fv[m]["first_run"].append(d["stages"]["first_run"] / 1000)
        fv[m]["spawn_first_run"].append((d["t0_ns"] + d["stages"]["first_run"] * 1000 -
                                         t_spawn) / 1e6)
        fv[m]["exits"].append(d["exits"])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


print(f"== launch table: null guests, 16 MiB, one interleaved run, medians of {REPS} "
      f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs)")
for n in notes:
    print(f"  note: {n}")
names = list(vmms)
w = 16
print("  " + "row".ljust(44) + "".join(n.rjust(w) for n in names))
for key, label in (("one", "1 launch, spawn -> exit (ms)"),
                   ("one_all", "1 launch, until every descendant exited"),
                   ("par", f"{N} at once, separate processes (all gone)"),
                   ("row", f"{N} in a row (each until all gone)"),
                   ("rss", "peak RSS (MiB, every process of the VM)")):
    vals = [med(rows[n][key]) / (1024 if key == "rss" else 1) for n in names]
    print("  " + label.ljust(44) + "".join(f"{v:{w}.2f}" for v in vals))
print("  exit statuses: " + ", ".join(f"{n}={sorted(rows[n]['rc'])}" for n in names))
for m in batch:
    print(f"  fastvmm -n {N} -q --irqchip {m}: command start -> exit {med(batch[m]['cmd']):.1f} ms, "
          f"until every descendant exited {med(batch[m]['all']):.1f} ms, its report's wall "
          f"{med(batch[m]['report']):.1f} ms; launches/s (command) "
          f"{N / med(batch[m]['cmd']) * 1000:.0f}")
    print(f"  fastvmm --irqchip {m}: posix_spawn -> first KVM_RUN "
          f"{med(fv[m]['spawn_first_run']):.3f} ms, of which main -> first KVM_RUN "
          f"{med(fv[m]['first_run']):.3f} ms; exits per boot {med(fv[m]['exits']):.0f}")
base = "fastvmm split"
for peer in names:
    if peer in ("/bin/true", base):
        continue
    print(f"  ratio {base} / {peer}: " + ", ".join(
        f"{k} {med(rows[base][k]) / med(rows[peer][k]):.2f}" for k in ("one", "one_all", "par", "row")))

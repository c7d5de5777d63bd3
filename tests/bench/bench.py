#!/usr/bin/env python3
"""tests/bench/bench.py FASTVMM GUESTDIR — the boot-time benchmark behind `make bench`.

Prints, from one run on this machine: fastvmm single-VM stage times, -n 1 and -n 30 of the
null and hello guests (wall, stage percentiles, launches/s, memory per instance), the same work
as 30 separate fastvmm processes, the floor of 30 concurrent /bin/true, a sustained run, and
QEMU microvm booting the same guest (PVH entry) when qemu-system-x86_64 is installed, as
ratios. Medians of BENCH_REPS runs (default 5). Not a test: nothing here passes or fails on
time.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

FASTVMM, GUESTS = sys.argv[1], sys.argv[2]
REPS = int(os.environ.get("BENCH_REPS", "5"))
N = 30
QEMU = shutil.which("qemu-system-x86_64")
QEMU_ARGS = ["-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off,pic=off,pit=off,acpi=off",
             "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "128M", "-nodefaults",
             "-no-user-config", "-nographic", "-serial", "null",
             "-device", "isa-debug-exit,iobase=0x501,iosize=1"]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spawn_wait(cmds):
    """Start every command at once; ms from the first spawn to the last exit, and statuses."""
    t = time.perf_counter_ns()
    ps = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL) for c in cmds]
    rcs = [p.wait() for p in ps]
    return (time.perf_counter_ns() - t) / 1e6, rcs


def fastvmm_json(args):
    t = time.perf_counter_ns()
    out = subprocess.run([FASTVMM] + args + ["--json"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    wall = (time.perf_counter_ns() - t) / 1e6
    return json.loads(out.stdout), wall, out.returncode


def single(guest):
    first, ready, exit_, proc = [], [], [], []
    for _ in range(REPS * 2):
        d, wall, _ = fastvmm_json(["--kernel", f"{GUESTS}/{guest}.elf", "--quiet"])
        s = d["stages"]
        first.append(s["first_run"] / 1000)
        ready.append(s["ready"] / 1000)
        exit_.append(s["exit"] / 1000)
        proc.append(wall)
    print(f"  single VM {guest:6s}: main->first KVM_RUN {med(first):.3f} ms, ready "
          f"{med(ready):.3f}, exit {med(exit_):.3f}; whole process (spawn->exit; the VM's "
          f"teardown is left to a holder process) {med(proc):.2f} ms")
    return med(proc)


def batch(guest, n, extra=()):
    walls, reaped, lps, rss, vmm, outer, last = [], [], [], [], [], [], None
    for _ in range(REPS):
        d, wall, rc = fastvmm_json(["-n", str(n), "--kernel", f"{GUESTS}/{guest}.elf",
                                    "--log-dir", LOGDIR] + list(extra))
        if rc != 0:
            print(f"  -n {n} {guest}: exit status {rc}: {d['summary']['failures']}")
        walls.append(d["wall_us"] / 1000)
        reaped.append(d["reaped_us"] / 1000)
        lps.append(d["summary"]["launches_per_s"])
        rss.append(d["summary"]["memory_kb"]["rss"]["p50"])
        vmm.append(d["summary"]["memory_kb"]["vmm"]["p50"])
        outer.append(wall)
        last = d
    st = last["summary"]["stages_us"]
    print(f"  -n {n:<4d} {guest:6s}{' '.join(extra):>14s}: wall {med(walls):7.2f} ms "
          f"(min {min(walls):.2f}, max {max(walls):.2f}), all reaped {med(reaped):7.2f} ms, "
          f"process {med(outer):7.2f} ms, {med(lps):6.0f} launches/s; RSS/instance "
          f"{med(rss):.0f} KiB, VMM beyond guest pages {med(vmm):.0f} KiB")
    print("      last run, ms from the request:  " + "  ".join(
        f"{k} p50 {st[k]['p50'] / 1000:.2f} p99 {st[k]['p99'] / 1000:.2f}"
        for k in ("vm_create", "irqchip", "vcpus", "first_run", "exit")))
    return med(walls), med(outer)


def main():
    global LOGDIR
    LOGDIR = subprocess.run(["mktemp", "-d"], capture_output=True, text=True).stdout.strip()
    try:
        run()
    finally:
        shutil.rmtree(LOGDIR, ignore_errors=True)


def run():
    print(f"fastvmm benchmark: {os.cpu_count()} CPUs, /dev/kvm = "
          f"{'kvm-pvm' if os.path.exists('/sys/module/kvm_pvm') else 'kvm'}, "
          f"load average {os.getloadavg()[0]:.2f} (other work on the machine skews all of this)")
    print("\n== one VM (fastvmm --json, medians of %d)" % (REPS * 2))
    ver = med([spawn_wait([[FASTVMM, "--version"]])[0] for _ in range(REPS * 2)])
    print(f"  process floor: fastvmm --version, spawn -> exit {ver:.2f} ms (exec, ld.so, exit: "
          f"add it to main->first KVM_RUN for exec->first KVM_RUN)")
    single_null = single("null")
    single("hello")

    print("\n== batch (fastvmm -n N --json, medians of %d)" % REPS)
    res = {}
    for g in ("null", "hello"):
        for n in (1, N):
            res[(g, n)] = batch(g, n)
    sustained = batch("null", 300, ("--parallel", "8"))

    print("\n== the same work without batch mode (medians of %d)" % REPS)
    sep = [spawn_wait([[FASTVMM, "--kernel", f"{GUESTS}/null.elf", "--quiet"]] * N)[0]
           for _ in range(REPS)]
    print(f"  {N} separate fastvmm processes (null), started at once: {med(sep):.2f} ms")
    true = [spawn_wait([["/bin/true"]] * N)[0] for _ in range(REPS)]
    print(f"  floor: {N} concurrent /bin/true: {med(true):.2f} ms")

    print("\n== QEMU microvm, same guest with its PVH entry (null-pvh.elf)")
    q1 = qn = None
    if not QEMU:
        print("  qemu-system-x86_64 not installed: skipped")
    else:
        cmd = [QEMU] + QEMU_ARGS + ["-kernel", f"{GUESTS}/null-pvh.elf"]
        w, rcs = spawn_wait([cmd])
        if rcs != [1]:  # isa-debug-exit: status (0 << 1) | 1
            print(f"  QEMU microvm failed here (exit status {rcs[0]}); command: {' '.join(cmd)}")
        else:
            q1 = med([spawn_wait([cmd])[0] for _ in range(REPS)])
            qn = med([spawn_wait([cmd] * N)[0] for _ in range(max(1, REPS // 2))])
            print(f"  1 VM:  {q1:.2f} ms (spawn -> exit)")
            print(f"  {N} VMs at once: {qn:.2f} ms")

    print("\n== summary")
    fw1, fp1 = res[("null", 1)]
    fwn, fpn = res[("null", N)]
    print(f"  fastvmm -n 1 null: wall {fw1:.2f} ms, whole process {fp1:.2f} ms; single VM process "
          f"{single_null:.2f} ms")
    print(f"  fastvmm -n {N} null: wall {fwn:.2f} ms (target <= 20), whole process {fpn:.2f} ms; "
          f"{N} separate processes {med(sep):.2f} ms ({med(sep) / fpn:.1f}x the batch)")
    print(f"  sustained (-n 300 --parallel 8): {300 / sustained[1] * 1000:.0f} launches/s whole "
          f"process (target >= 1000)")
    if q1:
        print(f"  QEMU microvm / fastvmm: 1 VM {q1:.1f} / {single_null:.1f} ms = "
              f"{q1 / single_null:.1f}x; {N} VMs {qn:.1f} / {fpn:.1f} ms = {qn / fpn:.1f}x")


main()

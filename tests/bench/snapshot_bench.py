#!/usr/bin/env python3
"""tests/bench/snapshot_bench.py FASTVMM GUESTDIR — restore vs cold boot (issue 9).

From one interleaved run on this machine, medians of BENCH_REPS rounds (default 5):
  - one VM: process start -> first KVM_RUN and -> first console line, for a cold boot of the
    counting guest and for a restore of its snapshot (128 MiB guest, taken mid-count);
  - 30 at once (-n 30): request -> the last instance's first KVM_RUN / first console line,
    cold batch vs 30 clones of the snapshot;
  - memory of an idle clone (a halted guest restored 30 times): private KiB beyond the pages
    shared with the snapshot file (VMM heap and stacks + guest pages it wrote).
Goals (issue 9): restore -> running <= 1 ms for one clone, 30 clones <= 20 ms wall, <= 1 MiB
private memory per idle clone. Not a test: nothing here passes or fails on time.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

FASTVMM, GUESTS = sys.argv[1], sys.argv[2]
REPS = int(os.environ.get("BENCH_REPS", "5"))
N = 30


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def run_json(args):
    out = subprocess.run([FASTVMM] + args + ["--json", "--quiet"], capture_output=True,
                         text=True, stdin=subprocess.DEVNULL)
    try:
        return json.loads(out.stdout)
    except ValueError:
        sys.exit(f"snapshot bench: {' '.join(args)}: {out.stderr.strip()}")


def ms(us):
    return us / 1000.0 if us is not None else float("nan")


def main():
    tmp = tempfile.mkdtemp(prefix="fastvmm-snapbench.")
    try:
        count = f"{GUESTS}/count.elf"
        snap, idle = f"{tmp}/count", f"{tmp}/idle"
        cmd = "to=4 snap=3 spin=0"  # nothing but the console lines after the point
        for d, args in ((snap, ["--kernel", count, "--cmdline", cmd, "--snapshot-at",
                                "exit-port"]),
                        (idle, ["--kernel", f"{GUESTS}/hang.elf"])):
            r = subprocess.run([FASTVMM, "--mem", "128M", "--quiet", "--snapshot", d,
                                "--snapshot-then", "stop"] + args[0:2] + args[2:],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if r.returncode != 0 or not os.path.exists(f"{d}/state"):
                sys.exit(f"snapshot bench: taking {d}: {r.stderr.strip()}")
        mem_kb = int(subprocess.run(["du", "-k", f"{snap}/memory"], capture_output=True,
                                    text=True).stdout.split()[0])
        cold = {"run": [], "out": []}
        rest = {"run": [], "out": [], "map": []}
        bcold = {"run": [], "out": [], "wall": []}
        brest = {"run": [], "out": [], "wall": []}
        for _ in range(REPS):  # interleaved: load changes hit both sides alike
            for _ in range(2):
                s = run_json(["--kernel", count, "--cmdline", cmd])["stages"]
                cold["run"].append(ms(s["first_run"]))
                cold["out"].append(ms(s["first_output"]))
                s = run_json(["--restore", snap])["stages"]
                rest["run"].append(ms(s["first_run"]))
                rest["out"].append(ms(s["first_output"]))
                rest["map"].append(ms(s["snapshot_map"]) - ms(s["vm_create"]))
            for side, args in ((bcold, ["--kernel", count, "--cmdline", cmd]),
                               (brest, ["--restore", snap])):
                d = run_json(args + ["-n", str(N)])
                st = d["summary"]["stages_us"]
                side["run"].append(ms(st["first_run"]["max"]))
                side["out"].append(ms(st["first_output"]["max"]))
                side["wall"].append(ms(d["wall_us"]))
        d = run_json(["--restore", idle, "-n", str(N), "--timeout", "0.5"])
        m = d["summary"]["memory_kb"]
        print(f"== snapshots (issue 9): {REPS} rounds, medians; 128 MiB guest, snapshot "
              f"memory file {mem_kb} KiB on disk")
        print(f"  one VM, process start -> first KVM_RUN:     cold boot {med(cold['run']):7.3f} ms"
              f"   restore {med(rest['run']):7.3f} ms   ({med(cold['run']) / med(rest['run']):.2f}x)")
        print(f"  one VM, process start -> first console line: cold boot {med(cold['out']):7.3f} ms"
              f"   restore {med(rest['out']):7.3f} ms   ({med(cold['out']) / med(rest['out']):.2f}x)")
        print(f"  restore: snapshot_map stage {med(rest['map']):.3f} ms (mmap of the RAM file "
              f"+ memslot)")
        print(f"  -n {N}, request -> last first KVM_RUN:       cold      {med(bcold['run']):7.3f} ms"
              f"   clones  {med(brest['run']):7.3f} ms   ({med(bcold['run']) / med(brest['run']):.2f}x)")
        print(f"  -n {N}, request -> last first console line:  cold      {med(bcold['out']):7.3f} ms"
              f"   clones  {med(brest['out']):7.3f} ms")
        print(f"  -n {N}, request -> last exit (wall):          cold      {med(bcold['wall']):7.3f} ms"
              f"   clones  {med(brest['wall']):7.3f} ms")
        print(f"  idle clone memory (-n {N}, p50): private {m['vmm']['p50'] + m['guest']['p50']:.0f} KiB"
              f" (VMM {m['vmm']['p50']:.0f} KiB + guest pages written {m['guest']['p50']:.0f} KiB),"
              f" RSS {m['rss']['p50']:.0f} KiB incl. shared")
        print(f"  goals: restore -> running <= 1 ms: {'met' if med(rest['run']) <= 1 else 'NOT met'};"
              f" {N} clones <= 20 ms: {'met' if med(brest['run']) <= 20 else 'NOT met'};"
              f" <= 1 MiB private per idle clone: "
              f"{'met' if m['vmm']['p50'] + m['guest']['p50'] <= 1024 else 'NOT met'}"
              " (2 shared cores, other work running: noisy)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()

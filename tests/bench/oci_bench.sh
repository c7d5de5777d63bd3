#!/usr/bin/env bash
# tests/bench/oci_bench.sh [BUILD] — `make bench-oci` (part of `make bench`): how long an
# engine takes to run a container to its end, fastvmm (the hello guest: boot, print, exit)
# against runc running a static /bin/true (busybox), each under ctr (containerd 1.6, private
# daemon) and podman, and each runtime alone (`fastvmm-oci run`, `runc run`): the difference
# is the engine's own overhead. Interleaved reps, medians; needs root. Measures, never asserts.
set -u
B=$(readlink -f "${1:-build}")
here=$(dirname "$(readlink -f "$0")")
oci=$(readlink -f "$here/../oci")
for c in containerd ctr podman runc busybox; do
	if ! command -v "$c" >/dev/null; then
		echo "bench-oci: $c not installed (make deps); skipped"
		exit 0
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-oci: needs root (containerd, podman); skipped"
	exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/fastvmm-bench-oci.$$.XXXXXX")
. "$oci/containerd.sh"
PD=$W/podman
P="podman --root $PD/storage --runroot $PD/run --tmpdir $PD/tmp --cgroup-manager cgroupfs --events-backend file"
cleanup() {
	ctd_stop
	$P rm -af >/dev/null 2>&1
	grep -o " $W/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT
ctd_start || exit 1
# Images and bundles: the hello guest, and busybox as a static /bin/true.
mkdir -p "$W/fvm/rootfs" "$W/true/rootfs/bin"
cp "$B/guests/hello.elf" "$W/fvm/rootfs/"
cp "$(command -v busybox)" "$W/true/rootfs/bin/busybox"
ln -s busybox "$W/true/rootfs/bin/true"
printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/hello.elf"]},"linux":{}}' >"$W/fvm/config.json"
(cd "$W/true" && runc spec && sed -i 's/"sh"/"\/bin\/busybox", "echo", "ready"/; s/"terminal": true/"terminal": false/' config.json)
"$oci/mkimage.sh" "$W/fvm.tar" localhost/bench-fvm:1 '["/hello.elf"]' "$B/guests/hello.elf=/hello.elf"
"$oci/mkimage.sh" "$W/true.tar" localhost/bench-true:1 '["/bin/busybox","echo","ready"]' "$(command -v busybox)=/bin/busybox"
"${CTR[@]}" images import "$W/fvm.tar" >/dev/null
"${CTR[@]}" images import "$W/true.tar" >/dev/null
CTRS="${CTR[*]}"
NOFILE=$(ulimit -Hn) python3 - "$B" "$W" "$CTRS" "$P" <<'PY'
import os, statistics, subprocess, sys, time
b, w, ctr, pod = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
oci = f"{b}/fastvmm-oci"
nf, npr = os.environ["NOFILE"], 1000  # runc here refuses even podman's NPROC default
ulim = ["--ulimit", f"nofile={nf}:{nf}", "--ulimit", f"nproc={npr}:{npr}"]
reps = int(os.environ.get("BENCH_OCI_REPS", "15"))
n = [0]
def uid():
    n[0] += 1
    return f"b{n[0]}"
cases = {
    "fastvmm (the CLI, no engine)": lambda: [f"{b}/fastvmm", "--kernel", f"{b}/guests/hello.elf"],
    "fastvmm-oci run (runtime alone)": lambda: [oci, "--root", f"{w}/oci-root", "run", "--bundle", f"{w}/fvm", uid()],
    "runc run echo (runtime alone)": lambda: ["runc", "--root", f"{w}/runc-root", "run", "--bundle", f"{w}/true", uid()],
    "ctr run fastvmm": lambda: ctr + ["run", "--rm", "--runc-binary", oci, "localhost/bench-fvm:1", uid()],
    "ctr run runc echo": lambda: ctr + ["run", "--rm", "localhost/bench-true:1", uid()],
    # podman's default NOFILE 1048576 may be above this host's hard limit, which runc refuses
    # (fastvmm-oci clamps, docs/oci.md): both get the host's own limits, to compare alike.
    "podman run fastvmm": lambda: pod + ["--runtime", oci, "run", "--rm", *ulim, "--rootfs", f"{w}/fvm/rootfs", "/hello.elf"],
    "podman run runc echo": lambda: pod + ["--runtime", "runc", "run", "--rm", *ulim, "--rootfs", f"{w}/true/rootfs", "/bin/busybox", "echo", "ready"],
}
t = {k: [] for k in cases}
tr = {k: [] for k in cases}
bad = {}
for _ in range(reps + 1):  # the first round warms caches and is dropped
    for k, f in cases.items():
        cmd = f()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = p.stdout.readline()  # the guest's "Hello ..." / busybox's "ready": ready
        t1 = time.perf_counter()
        _, err = p.communicate()
        t2 = time.perf_counter()
        if p.returncode != 0 or not line:
            bad[k] = err.decode(errors="replace").strip().splitlines()[-1:]
        tr[k].append((t1 - t0) * 1000)
        t[k].append((t2 - t0) * 1000)
med = {k: statistics.median(v[1:]) for k, v in t.items()}
mrd = {k: statistics.median(v[1:]) for k, v in tr.items()}
print(f"== OCI: from the command's start to its first output line (ready) and to its end,")
print(f"   median of {reps} interleaved reps, ms (2 shared cores, other work running: compare")
print("   within this table only). runc runs a static busybox 'echo ready'.")
print(f"  {'':40s} {'ready':>8s} {'end':>8s}")
for k in cases:
    print(f"  {k:40s} {mrd[k]:8.1f} {med[k]:8.1f}" + (f"   FAILED: {bad[k]}" if k in bad else ""))
print()
alone_f, alone_r = med["fastvmm-oci run (runtime alone)"], med["runc run echo (runtime alone)"]
for eng in ("ctr", "podman"):
    fv, rc = mrd[f"{eng} run fastvmm"], mrd[f"{eng} run runc echo"]
    ef = max(fv - mrd["fastvmm-oci run (runtime alone)"], 0)
    print(f"  {eng} run → ready: fastvmm {fv:.1f} ms vs runc {rc:.1f} ms (ratio {fv / rc:.2f}); "
          f"of fastvmm's, the engine's own part {ef:.1f} ms ({100 * ef / fv:.0f}%)")
PY

#!/usr/bin/env bash
# tests/oci/t_ctr.sh — containerd 1.6 + ctr with fastvmm-oci as the runc binary of the
# io.containerd.runc.v2 shim: an OCI image built here (no registry) holding project guests,
# run, killed and deleted; the console text and the exit status are the guest's.
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	echo "# skip t_ctr.sh: containerd/ctr not installed (tests/deps.sh installs them)"
	finish
	exit
fi
. "$here/containerd.sh"
trap 'ctd_stop; rm -rf "$TMP"' EXIT
if ! ctd_start; then
	echo "# skip t_ctr.sh: containerd cannot run in this environment"
	finish
	exit
fi
IMG=localhost/fastvmm-oci-test:$$
"$here/mkimage.sh" "$TMP/img.tar" "$IMG" '["/hello.elf"]' \
	"$GUESTS/hello.elf=/hello.elf" "$GUESTS/exitcode.elf=/exitcode.elf" "$GUESTS/hang.elf=/hang.elf"
"${CTR[@]}" images import "$TMP/img.tar" >"$TMP/import.out" 2>&1
if "${CTR[@]}" images ls -q | grep -qx "$IMG"; then ok "import: OCI layout tarball"; else not_ok "import failed" "$TMP/import.out"; fi
RUNC_ROOT=/run/containerd/runc/$CTD_NS
crun() { # NAME ARGS... : ctr run with fastvmm-oci
	local name=$1
	shift
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	RC=0
	timeout -k 5 60 "${CTR[@]}" run --runc-binary "$OCI" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}
left_behind() { # NAME : no task, no container, nothing in the runtime's root
	local t c r
	t=$("${CTR[@]}" task ls -q)
	c=$("${CTR[@]}" container ls -q)
	r=$(ls -A "$RUNC_ROOT" 2>/dev/null)
	if [ -z "$t$c$r" ]; then ok "$1: nothing left (tasks, containers, runtime root)"; else not_ok "$1: left: tasks '$t' containers '$c' root '$r'"; fi
}

# A Kubernetes pod sandbox (containerd's CRI annotates the pause container so): no VM, the
# task runs until killed (SIGTERM → 0, as pause), under the "pause" seccomp role. The whole
# shim path — create, start, state, kill, delete — with no guest, so on every host.
crun pod -d --annotation io.kubernetes.cri.container-type=sandbox "$IMG" p1
expect_rc pod 0
for _ in $(seq 50); do "${CTR[@]}" task ls | grep -q 'p1.*RUNNING' && break; sleep 0.1; done
pid=$("${CTR[@]}" task ls | awk '$1 == "p1" {print $2}')
if [ -n "$pid" ] && grep -q '^Seccomp:.*2' "/proc/$pid/status" 2>/dev/null; then
	ok "pod: RUNNING, the sandbox process is under a seccomp filter"
else
	not_ok "pod: task list: $("${CTR[@]}" task ls | tr '\n' ' ')"
fi
"${CTR[@]}" task kill p1
for _ in $(seq 100); do "${CTR[@]}" task ls | grep -q 'p1.*STOPPED' && break; sleep 0.1; done
if "${CTR[@]}" task ls | grep -q 'p1.*STOPPED'; then ok "pod: SIGTERM stopped it"; else not_ok "pod: $("${CTR[@]}" task ls | tr '\n' ' ')"; fi
# ctr task delete warns "task p1 exit with non-zero exit code N" (137 after a SIGKILL).
"${CTR[@]}" task delete p1 >"$TMP/pdel.out" 2>&1
if [ -f "$TMP/pdel.out" ] && ! grep -q 'non-zero exit code' "$TMP/pdel.out"; then ok "pod: exit status 0, as pause's"; else not_ok "pod: exit status" "$TMP/pdel.out"; fi
"${CTR[@]}" container delete p1 >/dev/null 2>&1
left_behind pod

if [ "$HAVE_KVM" = 1 ]; then
	crun hello --rm "$IMG" h1
	expect_rc hello 0
	expect_out hello '^Hello from fastvmm guest'
	left_behind hello

	crun code --rm "$IMG" h2 /exitcode.elf exit=9
	expect_rc code 9
	expect_out code 'exitcode guest: exiting'

	crun ann --rm --annotation org.fastvmm.cmdline=exit=4 "$IMG" h3 /exitcode.elf
	expect_rc annotation 4

	# A detached VM: RUNNING with the instance's pid; SIGTERM stops it cleanly (143).
	crun detach -d --memory-limit 67108864 "$IMG" h4 /hang.elf
	expect_rc detach 0
	for _ in $(seq 50); do "${CTR[@]}" task ls | grep -q 'h4.*RUNNING' && break; sleep 0.1; done
	pid=$("${CTR[@]}" task ls | awk '$1 == "h4" {print $2}')
	if "${CTR[@]}" task ls | grep -q "h4 *$pid *RUNNING" && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$FASTVMM")" ]; then
		ok "detach: RUNNING, its pid is the fastvmm instance"
	else
		not_ok "detach: task list: $("${CTR[@]}" task ls | tr '\n' ' ')"
	fi
	lim=$(cat "/sys/fs/cgroup/memory/$CTD_NS/h4/memory.limit_in_bytes" 2>/dev/null || echo none)
	if [ "$lim" = $((96 * 1024 * 1024)) ]; then ok "detach: --memory-limit → the VM's cgroup (64 MiB + overhead)"; else echo "# cgroup limit not checked here ('$lim')"; fi
	"${CTR[@]}" task kill h4
	for _ in $(seq 50); do "${CTR[@]}" task ls | grep -q 'h4.*STOPPED' && break; sleep 0.1; done
	if "${CTR[@]}" task ls | grep -q 'h4.*STOPPED'; then ok "kill: SIGTERM stopped the VM"; else not_ok "kill: $("${CTR[@]}" task ls | tr '\n' ' ')"; fi
	"${CTR[@]}" task delete h4 >"$TMP/tdel.out" 2>&1
	"${CTR[@]}" container delete h4 >/dev/null 2>&1
	left_behind "kill+delete"
	if [ ! -e "/sys/fs/cgroup/memory/$CTD_NS/h4" ]; then ok "delete: the cgroup is gone"; else not_ok "delete: cgroup left"; fi

	# Foreground run killed from outside: the exit status is 128+signal.
	(sleep 1; "${CTR[@]}" task kill h5) &
	k=$!
	crun term --rm "$IMG" h5 /hang.elf
	wait "$k"
	expect_rc term 143
	expect_out term 'hang guest: waiting forever'
	(sleep 1; "${CTR[@]}" task kill -s SIGKILL h6) &
	k=$!
	crun sigkill --rm "$IMG" h6 /hang.elf
	wait "$k"
	expect_rc sigkill 137
	left_behind signals

else
	# No guest can run here: the engine shows the runtime's one line naming /dev/kvm.
	echo "# skip the guest runs of t_ctr.sh: no usable /dev/kvm (nested scenario oci-runtime boots guests)"
	crun no-kvm --rm "$IMG" h8
	expect_rc no-kvm 1
	expect_err no-kvm 'OCI runtime create failed: .*/dev/kvm'
	"${CTR[@]}" container delete h8 >/dev/null 2>&1
	left_behind no-kvm
fi

# A bad bundle: the engine shows fastvmm's one line; nothing is left behind.
crun bad --rm "$IMG" h7 /nope.elf
expect_rc bad 1
expect_err bad 'OCI runtime create failed: process.args\[0\] \(the kernel\): /nope.elf: no such file in the rootfs'
"${CTR[@]}" container delete h7 >/dev/null 2>&1
left_behind bad
"${CTR[@]}" images rm "$IMG" >/dev/null 2>&1
finish

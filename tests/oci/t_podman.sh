#!/usr/bin/env bash
# tests/oci/t_podman.sh — podman (with conmon) using fastvmm-oci as --runtime, with private
# storage: `podman run --rm` prints the guest's line and returns its exit code, from a
# --rootfs directory and from an OCI image built here; ps, stop, logs, rm; a tty (-t).
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
if ! command -v podman >/dev/null; then
	echo "# skip t_podman.sh: podman not installed (tests/deps.sh installs it)"
	finish
	exit
fi
PD=$TMP/podman
P=(podman --root "$PD/storage" --runroot "$PD/run" --tmpdir "$PD/tmp" --cgroup-manager cgroupfs
	--events-backend file --runtime "$OCI")
cleanup() {
	"${P[@]}" rm -af >/dev/null 2>&1
	"${P[@]}" rmi -af >/dev/null 2>&1
	grep -o " $PD/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
pod() { # NAME ARGS...
	local name=$1
	shift
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	RC=0
	timeout -k 5 60 "${P[@]}" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}
R=$TMP/rootfs
mkdir -p "$R"
cp "$GUESTS/hello.elf" "$GUESTS/exitcode.elf" "$GUESTS/hang.elf" "$R/"

# A pod sandbox (CRI-O's annotation for the infra container): no VM, so on every host. It
# runs until stopped; podman stop's SIGTERM ends it with 0, as pause; rm leaves nothing.
pod pause run -d --name "fvp-$$" --annotation io.kubernetes.cri-o.ContainerType=sandbox --rootfs "$R" /pause
if [ "$RC" -ne 0 ] && grep -qi 'cgroup\|conmon' "$ERR"; then
	echo "# skip t_podman.sh: podman cannot run containers here: $(head -1 "$ERR")"
	finish
	exit
fi
expect_rc pause 0
pod pause-ps ps --format '{{.Names}} {{.Status}}'
expect_out pause-ps "^fvp-$$ Up"
pod pause-stop stop -t 10 "fvp-$$"
expect_rc pause-stop 0
pod pause-inspect inspect "fvp-$$" --format '{{.State.Status}} {{.State.ExitCode}}'
expect_out pause-stop 'exited 0' "$OUT"
pod pause-rm rm "fvp-$$"
expect_rc pause-rm 0

if [ "$HAVE_KVM" = 1 ]; then
	pod rootfs run --rm --rootfs "$R" /hello.elf
	expect_rc rootfs 0
	expect_out rootfs '^Hello from fastvmm guest'
	pod code run --rm --rootfs "$R" /exitcode.elf exit=5
	expect_rc code 5
	pod env run --rm -e FASTVMM_CMDLINE=exit=6 --rootfs "$R" /exitcode.elf
	expect_rc env-knob 6

	"$here/mkimage.sh" "$TMP/img.tar" localhost/fastvmm-oci-pod:$$ '["/hello.elf"]' "$GUESTS/hello.elf=/hello.elf"
	pod load load -i "$TMP/img.tar"
	pod image run --rm localhost/fastvmm-oci-pod:$$
	expect_rc image 0
	expect_out image '^Hello from fastvmm guest'

	pod tty run --rm -t --rootfs "$R" /hello.elf
	expect_rc tty 0
	expect_out tty 'Hello from fastvmm guest'

	# Detached: ps shows it Up; stop sends SIGTERM (clean stop: Exited (143)); logs; rm.
	pod detach run -d --name "fvm-$$" --rootfs "$R" /hang.elf
	expect_rc detach 0
	pod ps ps --format '{{.Names}} {{.Status}}'
	expect_out ps "^fvm-$$ Up"
	pod stop stop -t 10 "fvm-$$"
	expect_rc stop 0
	pod inspect inspect "fvm-$$" --format '{{.State.Status}} {{.State.ExitCode}}'
	expect_out stop 'exited 143' "$OUT"
	pod logs logs "fvm-$$"
	expect_out logs 'hang guest: waiting forever'
	pod rm rm "fvm-$$"
	expect_rc rm 0
	pod ps-a ps -a -q
	expect_lines "rm: no container left" 0 "$OUT"

else
	echo "# skip the guest runs of t_podman.sh: no usable /dev/kvm (nested scenario oci-podman runs them in L1)"
	pod no-kvm run --rm --rootfs "$R" /hello.elf
	if [ "$RC" -ne 0 ]; then ok "no-kvm: podman run fails ($RC)"; else not_ok "no-kvm: podman run succeeded"; fi
	expect_err no-kvm 'fastvmm: /dev/kvm: No such file'
fi

pod bad run --rm --rootfs "$R" /nope.elf
expect_rc bad 127 # podman: "no such file" → 127, as for a missing executable
expect_err bad 'fastvmm: process.args\[0\] \(the kernel\): /nope.elf: no such file in the rootfs'
pod ps-bad ps -a -q
expect_lines "bad: no container left" 0 "$OUT"
finish

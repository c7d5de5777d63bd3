#!/usr/bin/env bash
# tests/oci/t_bundle.sh — what the runtime decides before any guest runs, so it needs no
# /dev/kvm: bad bundles (one clear line, status 1, nothing left in --root), ids, global
# flags, features, two creates of one id, and a Kubernetes pod sandbox's whole lifecycle
# (no VM: it waits under the "pause" seccomp role until stopped).
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
G=$GUESTS
O="$OCI --root $ROOT"

# --- a Kubernetes pod sandbox (the pause container, as containerd's CRI annotates it): no VM,
# it runs until stopped and SIGTERM ends it with 0, as pause does
B=$TMP/pause
bundle "$B" "$(cfg '["/pause"]' '"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"x"}')"
reap sandbox "$O create --bundle $B pod1 && $O start pod1 && sleep 0.2 && $O state pod1 >$TMP/stp && $O kill pod1 TERM"
expect_out sandbox '"status": "running"' "$TMP/stp"
expect_status sandbox 0
oci sandbox-del delete pod1
expect_empty_root sandbox-del

# --- bad bundles: one clear line, status 1, nothing left in --root
bad() { # NAME REGEX CONFIG [FILES...]
	local name=$1 re=$2 c=$3
	shift 3
	rm -rf "$TMP/bad"
	bundle "$TMP/bad" "$c" "$@"
	oci "$name" --log "$TMP/$name.log" --log-format json create --bundle "$TMP/bad" b1
	expect_rc "$name" 1
	expect_err "$name" "^fastvmm: .*$re"
	expect_lines "$name: one line" 1 "$ERR"
	expect_empty_root "$name"
}
bad missing-kernel 'no such file in the rootfs' "$(cfg '["/nope.elf"]')"
bad not-a-kernel '/notes.txt' "$(cfg '["/notes.txt"]')" /etc/hostname=/notes.txt
bad no-args 'process.args is empty' "$(cfg '[]')"
bad dotdot "'\.\.' is not allowed" "$(cfg '["x"]' '"annotations":{"org.fastvmm.kernel":"/../../etc/passwd"}')"
bad unknown-annotation 'org.fastvmm.kernal: unknown' "$(cfg '["/hello.elf"]' '"annotations":{"org.fastvmm.kernal":"/hello.elf"}')" "$G/hello.elf"
bad bad-mem "org.fastvmm.mem: 'lots'" "$(cfg '["/hello.elf"]' '"annotations":{"org.fastvmm.mem":"lots"}')" "$G/hello.elf"
bad bad-cpus "org.fastvmm.cpus: '0'" "$(cfg '["/hello.elf"]' '"annotations":{"org.fastvmm.cpus":"0"}')" "$G/hello.elf"
bad tiny-limit 'memory.limit: 1048576 bytes' "$(cfg '["/hello.elf"]' '"linux":{"resources":{"memory":{"limit":1048576}}}')" "$G/hello.elf"
bad not-json 'config.json: line [0-9]+ column [0-9]+: unexpected' '{"ociVersion": '
bad old-spec "ociVersion '0.9'" '{"ociVersion":"0.9","root":{"path":"rootfs"},"process":{"args":["/x"]}}'
bad wrong-type 'process.args\[0\]: must be a string' "$(cfg '[7]')"
bad hooks 'hooks.prestart: hooks are not supported' "$(cfg '["/hello.elf"]' '"hooks":{"prestart":[{"path":"/bin/true"}]}')" "$G/hello.elf"
bad windows 'windows: fastvmm runs Linux bundles only' "$(cfg '["/hello.elf"]' '"windows":{}')" "$G/hello.elf"
bad two-kernels 'org.fastvmm.kernel and vm.kernel.path: give one of them' "$(cfg '["x"]' "\"vm\":{\"kernel\":{\"path\":\"$G/hello.elf\"}},\"annotations\":{\"org.fastvmm.kernel\":\"/hello.elf\"}")" "$G/hello.elf"
bad control-chars 'org.fastvmm.k\?x: unknown' "$(cfg '["/hello.elf"]' '"annotations":{"org.fastvmm.k\nx":"1"}')" "$G/hello.elf"
bad systemd-cg 'needs --systemd-cgroup' "$(cfg '["/hello.elf"]' '"linux":{"cgroupsPath":"system.slice:x:y"}')" "$G/hello.elf"
# A symlink is resolved inside the rootfs: one aiming at the host's /etc/passwd finds nothing.
mkdir -p "$TMP/bad" && rm -rf "$TMP/bad" && bundle "$TMP/bad" "$(cfg '["/k"]')" && ln -s ../../../../../etc/passwd "$TMP/bad/rootfs/k"
oci symlink-escape create --bundle "$TMP/bad" b1
expect_rc symlink-escape 1
expect_err symlink-escape '/k: no such file in the rootfs'
expect_empty_root symlink-escape
rm -rf "$TMP/bad" && bundle "$TMP/bad" "$(cfg '["/fifo"]')" && mkfifo "$TMP/bad/rootfs/fifo"
oci fifo-kernel create --bundle "$TMP/bad" b1
expect_err fifo-kernel '/fifo: not a regular file'
expect_empty_root fifo-kernel
if grep -q '"level":"error","msg":"process.args\[0\] (the kernel): /nope.elf: no such file' "$TMP/missing-kernel.log"; then
	ok "log-format json: the error is in the --log file"
else
	not_ok "log-format json: the error is not in the --log file" "$TMP/missing-kernel.log"
fi
oci bad-id create --bundle "$TMP/pause" '../x'
expect_err bad-id "container id '../x'"
oci systemd --systemd-cgroup create --bundle "$TMP/pause" s1
expect_err systemd '--systemd-cgroup: not supported'
oci dup-setup create --bundle "$TMP/pause" d1
oci dup create --bundle "$TMP/pause" d1
expect_err dup 'd1: already exists'
oci dup-state state d1
expect_out dup-state '"status": "created"'
oci dup-del delete --force d1
expect_empty_root dup-del

# --- features, ps, list
oci features features
if python3 -m json.tool "$OUT" >/dev/null 2>&1 && grep -q ociVersionMax "$OUT"; then ok "features: JSON"; else not_ok "features: not JSON" "$OUT"; fi


# --- the pod sandbox is confined: a call outside the "pause" role is reported, status 159
reap sandbox-seccomp "FASTVMM_TEST_DENIED_SYSCALL=pause $O create --bundle $TMP/pause pod2 && $O start pod2"
expect_err sandbox-seccomp 'sandbox: pause thread made a denied system call: socket'
expect_status sandbox-seccomp 159
oci sandbox-seccomp-del delete pod2
expect_empty_root sandbox-seccomp-del

# --- without /dev/kvm (hosts whose kernel is a kvm-pvm guest), a VM bundle's create fails
# with one line naming /dev/kvm and leaves nothing; with it, t_runtime.sh boots the guests
if [ "$HAVE_KVM" = 0 ]; then
	rm -rf "$TMP/vm" && bundle "$TMP/vm" "$(cfg '["/hello.elf"]')" "$G/hello.elf"
	oci no-kvm create --bundle "$TMP/vm" v1
	expect_rc no-kvm 1
	expect_err no-kvm '^fastvmm: .*/dev/kvm'
	expect_lines "no-kvm: one line" 1 "$ERR"
	expect_empty_root no-kvm
fi
expect_empty_root end
finish

# tests/oci/lib.sh — sourced by tests/oci/t_*.sh: the boot tests' assertions (tests/boot/lib.sh)
# plus bundles and a private --root for the OCI runtime.
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$here/../boot/lib.sh"
OCI=$(dirname "$FASTVMM")/fastvmm-oci
[ -x "$OCI" ] || OCI=$(dirname "$FASTVMM")/bin/fastvmm-oci
ROOT=$TMP/root
HELPER=$here/helper.py
# Some hosts of this project's kind have no usable /dev/kvm (their kernel is itself a kvm-pvm
# guest): there the parts that boot a guest are skipped with one line, and the nested
# harness's oci-runtime scenario boots them through the runtime instead.
HAVE_KVM=0
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && HAVE_KVM=1
# need_kvm : end this script here (finish) where no guest can run.
need_kvm() {
	[ "$HAVE_KVM" = 1 ] && return 0
	echo "# skip the rest of $(basename "$0"): no usable /dev/kvm here (nested scenario oci-runtime boots guests instead)"
	finish
	exit
}

# bundle DIR CONFIG_JSON FILE[=PATH]... : a bundle with rootfs/ holding the files.
bundle() {
	local d=$1 cfg=$2 f src dst
	shift 2
	mkdir -p "$d/rootfs"
	for f in "$@"; do
		src=${f%%=*} dst=${f#*=}
		[ "$dst" = "$f" ] && dst=/$(basename "$src")
		install -D -m755 "$src" "$d/rootfs$dst"
	done
	printf '%s\n' "$cfg" >"$d/config.json"
}

# cfg ARGS_JSON [EXTRA_JSON_MEMBERS] : a minimal config.json.
cfg() {
	printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":%s}%s}' \
		"$1" "${2:+,$2}"
}

# oci NAME ARGS... : the runtime with --root $ROOT, like run().
oci() {
	local name=$1
	shift
	capture "$name" "$OCI" --root "$ROOT" "$@"
}

# reap NAME SCRIPT : SCRIPT under a subreaper; $OUT gets its output and "reaped PID STATUS".
reap() {
	capture "$1" python3 "$HELPER" reap "$2"
}

# expect_status NAME WANT : the instance's exit status seen by the subreaper.
expect_status() {
	local got
	# The first reaped is the instance; the VM-teardown holder it leaves (instance_release())
	# can only end after it, having the VM to destroy.
	got=$(sed -n 's/^reaped [0-9]* //p' "$OUT" | head -1)
	if [ "$got" = "$2" ]; then ok "$1: container exit status $2"; else not_ok "$1: container exit status '${got}', want $2" "$OUT" "$ERR"; fi
}

# expect_empty_root NAME : nothing left in --root.
expect_empty_root() {
	if [ -z "$(ls -A "$ROOT" 2>/dev/null)" ]; then ok "$1: nothing left in --root"; else not_ok "$1: left in --root: $(ls -A "$ROOT" | tr '\n' ' ')"; fi
}

# wait_status ID STATUS : poll `state` until it says STATUS (5 s).
wait_status() {
	for _ in $(seq 100); do
		"$OCI" --root "$ROOT" state "$1" 2>/dev/null | grep -q "\"status\": \"$2\"" && return 0
		sleep 0.05
	done
	return 1
}

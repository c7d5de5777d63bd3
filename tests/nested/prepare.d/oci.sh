# tests/nested/prepare.d/oci.sh — the OCI runtime scenarios' files inside L1 (sourced by
# run.sh's prepare step with L1ROOT and NESTED_SELECTED set): tests/nested/oci-l1.sh as
# /bin/oci-l1, tests/nested/stop-l1.sh as /bin/stop-l1, tests/nested/consock.c as
# /bin/consock; and for the engines' scenarios (oci-podman, oci-containerd), when selected and
# on this host (tests/deps.sh installs them): /bin/fastvmm-oci, tests/nested/engine-share-l1.sh
# as /bin/engine-share.sh (the engines' benchmark), an OCI image of the own
# guests built by tests/oci/mkimage.sh, podman and conmon with tests/nested/podman-l1.sh as
# /bin/podman-l1, containerd, ctr and the runc.v2 shim with tests/nested/oci-ctr-l1.sh as
# /bin/oci-ctr-l1 (binaries with their libraries).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
mkdir -p "$L1ROOT/bin"
install -m755 "$here/../oci-l1.sh" "$L1ROOT/bin/oci-l1"
install -m755 "$here/../stop-l1.sh" "$L1ROOT/bin/stop-l1"
# the --console-socket receiver, on the runtime's own fd-passing helper (no python in L1)
${CC:-cc} -static -O2 -Wall -Wextra -Werror -I"$here/../../../include" -o "$L1ROOT/bin/consock" \
	"$here/../consock.c" "$here/../../../vmm/fdpass.c"
. "$here/../carry.sh"
g=$L1ROOT/guests # the own guests, copied there before the hooks run
want() { [[ " ${NESTED_SELECTED:-} " == *" $1 "* ]] && command -v "$2" >/dev/null; }
# The engines (podman 36 MB, containerd 83 MB: not carried into every L1), each only when its
# scenario is selected and this host has it (else the scenario skips: requires=/bin/...).
if want oci-podman podman || want oci-containerd containerd; then
	ln -sf fastvmm "$L1ROOT/bin/fastvmm-oci"
	install -m644 "$here/../engine-share-l1.sh" "$L1ROOT/bin/engine-share.sh"
	mkdir -p "$L1ROOT/oci"
	"$here/../../oci/mkimage.sh" "$L1ROOT/oci/img.tar" localhost/fvt:1 '["/hello.elf"]' \
		"$g/hello.elf=/hello.elf" "$g/exitcode.elf=/exitcode.elf" "$g/hang.elf=/hang.elf"
fi
if want oci-podman podman; then
	carry "$(command -v podman)" /bin/podman
	carry "$(command -v conmon)" /bin/conmon
	install -m755 "$here/../podman-l1.sh" "$L1ROOT/bin/podman-l1"
fi
if want oci-containerd containerd; then
	for b in containerd ctr containerd-shim-runc-v2; do
		carry "$(command -v "$b")" "/bin/$b"
	done
	install -m755 "$here/../oci-ctr-l1.sh" "$L1ROOT/bin/oci-ctr-l1"
fi

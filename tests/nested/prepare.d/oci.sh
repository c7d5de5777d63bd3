# tests/nested/prepare.d/oci.sh — the OCI runtime scenarios' files inside L1 (sourced by
# run.sh's prepare step with L1ROOT and NESTED_SELECTED set): tests/nested/oci-l1.sh as
# /bin/oci-l1, tests/nested/stop-l1.sh as /bin/stop-l1, tests/nested/consock.c as /bin/consock, and — only when oci-containerd is selected and this host has containerd
# (tests/deps.sh installs it) — containerd, ctr and the runc.v2 shim with their libraries
# (83 MB: not carried into every L1), /bin/fastvmm-oci, tests/nested/oci-ctr-l1.sh as
# /bin/oci-ctr-l1 and an OCI image of the own guests built by tests/oci/mkimage.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
mkdir -p "$L1ROOT/bin"
install -m755 "$here/../oci-l1.sh" "$L1ROOT/bin/oci-l1"
install -m755 "$here/../stop-l1.sh" "$L1ROOT/bin/stop-l1"
# the --console-socket receiver, on the runtime's own fd-passing helper (no python in L1)
${CC:-cc} -static -O2 -Wall -Wextra -Werror -I"$here/../../../include" -o "$L1ROOT/bin/consock" \
	"$here/../consock.c" "$here/../../../vmm/fdpass.c"
[[ " ${NESTED_SELECTED:-} " == *" oci-containerd "* ]] || exit 0
command -v containerd >/dev/null || exit 0 # the scenario then skips (requires=/bin/containerd)
. "$here/../carry.sh"
for b in containerd ctr containerd-shim-runc-v2; do
	carry "$(command -v "$b")" "/bin/$b"
done
ln -sf fastvmm "$L1ROOT/bin/fastvmm-oci"
install -m755 "$here/../oci-ctr-l1.sh" "$L1ROOT/bin/oci-ctr-l1"
mkdir -p "$L1ROOT/oci"
g=$L1ROOT/guests # the own guests, copied there before the hooks run
"$here/../../oci/mkimage.sh" "$L1ROOT/oci/img.tar" localhost/fvt:1 '["/hello.elf"]' \
	"$g/hello.elf=/hello.elf" "$g/exitcode.elf=/exitcode.elf" "$g/hang.elf=/hang.elf"

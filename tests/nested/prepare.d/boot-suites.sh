# tests/nested/prepare.d/boot-suites.sh — boot test scripts that run unchanged under L1's
# busybox sh (sourced by run.sh's prepare step with L1ROOT set): as /t/*.sh with their lib.sh,
# for the own-t-* scenarios, so that a host without /dev/kvm still runs them.
set -euo pipefail
mkdir -p "$L1ROOT/t"
here=$(dirname "${BASH_SOURCE[0]}")/../../boot
install -m644 "$here/lib.sh" "$here/t_snapshot.sh" "$here/t_sandbox.sh" "$L1ROOT/t/"

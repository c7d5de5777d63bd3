# tests/nested/prepare.d/oci.sh — the OCI runtime scenario's driver inside L1 (sourced by
# run.sh's prepare step with L1ROOT set): tests/nested/oci-l1.sh as /bin/oci-l1.
set -euo pipefail
mkdir -p "$L1ROOT/bin"
install -m755 "$(dirname "${BASH_SOURCE[0]}")/../oci-l1.sh" "$L1ROOT/bin/oci-l1"

# tests/nested/prepare.d/sandbox.sh — the own-sandbox scenario's script inside L1 (sourced by
# run.sh's prepare step with L1ROOT set).
set -euo pipefail
mkdir -p "$L1ROOT/bin"
install -m755 "$(dirname "${BASH_SOURCE[0]}")/../sandbox-check.sh" "$L1ROOT/bin/sandbox-check"

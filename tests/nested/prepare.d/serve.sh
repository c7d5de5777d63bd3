# tests/nested/prepare.d/serve.sh — the serve scenarios' HTTP client and scripts inside L1 (sourced by
# run.sh's prepare step with L1ROOT set): tests/nested/uclient.c, linked statically.
set -euo pipefail
mkdir -p "$L1ROOT/bin"
${CC:-cc} -static -O2 -Wall -Wextra -Werror -o "$L1ROOT/bin/uclient" \
	"$(dirname "${BASH_SOURCE[0]}")/../uclient.c"
install -m755 "$(dirname "${BASH_SOURCE[0]}")/../serve-own.sh" "$L1ROOT/bin/serve-own"
install -m755 "$(dirname "${BASH_SOURCE[0]}")/../serve-snap.sh" "$L1ROOT/bin/serve-snap"

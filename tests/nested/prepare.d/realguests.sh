# tests/nested/prepare.d/realguests.sh — the real guest images (OSv, Unikraft; built from
# public source, never part of the project) from ../shared/guests, copied into L1 as /rg/*
# (sourced by run.sh's prepare step with L1ROOT and ROOT set). Missing images are no error:
# the scenarios that need them skip with one line.
set -euo pipefail
src=${NESTED_REAL_GUESTS:-$ROOT/../shared/guests}
mkdir -p "$L1ROOT/rg"
if [[ ! -d $src ]]; then
	echo "prepare realguests: $src is absent; real-guest scenarios will skip"
	exit 0
fi
n=0
for f in "$src"/*.elf "$src"/*.img; do
	[[ -f $f ]] || continue
	cp "$f" "$L1ROOT/rg/"
	chmod u+w "$L1ROOT/rg/$(basename "$f")"
	n=$((n + 1))
done
echo "prepare realguests: $n image(s) from $src"

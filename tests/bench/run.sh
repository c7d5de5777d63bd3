#!/usr/bin/env bash
# tests/bench/run.sh [BUILD] — `make bench`: the bare-KVM cost of each setup arrangement
# (kvm_options.c), then fastvmm against its baselines (bench.py). A couple of minutes at most;
# not part of `make test` (it measures, it does not assert).
set -u
B=${1:-build}
here=$(dirname "$(readlink -f "$0")")
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "bench: /dev/kvm is not usable here" >&2
	exit 1
fi
mkdir -p "$B/bench"
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -o "$B/bench/kvm_options" "$here/kvm_options.c" || exit 1
echo "== bare KVM: each arrangement of a VM's setup (tests/bench/kvm_options.c)"
"$B/bench/kvm_options" "${BENCH_KVM_REPS:-30}" 30
echo
${CC:-cc} -O2 -static -Wall -Wextra -Werror -o "$B/bench/spawn_rss" "$here/spawn_rss.c" || exit 1
echo "== fastvmm against its peers, one interleaved run (tests/bench/peers.py)"
python3 "$here/peers.py" "$B/fastvmm" "$B/guests" "$B/bench/spawn_rss"
echo
python3 "$here/bench.py" "$B/fastvmm" "$B/guests"
echo
python3 "$here/snapshot_bench.py" "$B/fastvmm" "$B/guests"
echo
sh "$here/snapshot_irqchip.sh" "$B/fastvmm" "$B/guests"

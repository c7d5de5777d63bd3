#!/usr/bin/env bash
# tests/bench/serve.sh [BUILD] — `make bench-serve`: `fastvmm serve` under load, from a warm
# pool and cold, side by side in one run with a cold `fastvmm` process per request
# (tests/bench/serve_load.c). Offered rates SERVE_RATES (default "100 500 1000 2000") and the
# maximum, SERVE_SECS seconds each, for the null and hello guests. Measures; asserts nothing.
set -u
B=${1:-build}
here=$(dirname "$(readlink -f "$0")")
L=$B/bench/serve_load
G=$(readlink -f "$B/guests")
RATES=${SERVE_RATES:-100 500 1000 2000}
SECS=${SERVE_SECS:-1}
CONNS=${SERVE_CONNS:-16}
POOL=${SERVE_POOL:-64}
SOCK=$(mktemp -u "${TMPDIR:-/tmp}/fastvmm-bench-serve.$$.XXXX")
"$B/fastvmm" serve --socket "$SOCK" --max-vms 512 --max-pooled $((2 * POOL)) -q &
D=$!
trap 'kill $D 2>/dev/null; wait $D 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
put() { curl -s -o /dev/null --unix-socket "$SOCK" -X PUT "http://fastvmm/templates/$1" -d "$2"; }
for g in null hello; do
	put "$g" "{\"kernel\": \"$G/$g.elf\", \"mem\": \"16M\", \"pool\": $POOL}"
	put "$g-cold" "{\"kernel\": \"$G/$g.elf\", \"mem\": \"16M\"}"
done
waitpool() {
	local ready
	for _ in $(seq 200); do
		ready=$(curl -s --unix-socket "$SOCK" "http://fastvmm/templates/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pool"]["ready"])')
		[ "$ready" = "$POOL" ] && return
		sleep 0.05
	done
}
echo "== fastvmm serve: request -> first_run / ready (the daemon's clock, from the request's"
echo "   arrival), client due -> reply, CPU per launch (daemon + instances, pool refill included);"
echo "   pool $POOL, $CONNS connections, ${SECS}s per rate; load $(cut -d' ' -f1-3 /proc/loadavg)"
$L header
for g in null hello; do
	for r in $RATES 0; do
		waitpool "$g"
		$L api "$SOCK" "$g" "$r" "$SECS" "$CONNS" "$D"
		$L api "$SOCK" "$g-cold" "$r" "$SECS" "$CONNS" "$D"
		$L cold "$B/fastvmm" "$G/$g.elf" "$r" "$SECS" "$CONNS"
	done
done
# What idle warm VMs cost: CPU over 2 s (none: they block in read()), and memory.
waitpool null
pids=$(cat /proc/$D/task/*/children)
t0=$(for p in $pids; do awk '{print $14 + $15}' /proc/$p/stat; done | awk '{s += $1} END {print s + 0}')
sleep 2
t1=$(for p in $pids; do awk '{print $14 + $15}' /proc/$p/stat; done | awk '{s += $1} END {print s + 0}')
n=$(echo $pids | wc -w)
rss=$(for p in $pids; do awk '/^Rss:/ {print $2}' /proc/$p/smaps_rollup; done | awk '{s += $1} END {print s + 0}')
pss=$(for p in $pids; do awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup; done | awk '{s += $1} END {print s + 0}')
anon=$(for p in $pids; do awk '/^Anonymous:/ {print $2}' /proc/$p/smaps_rollup; done | awk '{s += $1} END {print s + 0}')
echo "idle warm VMs (2 templates x $POOL): $n processes, CPU in 2 s: $((t1 - t0)) ticks; per VM: RSS $((rss / n)) KiB, PSS $((pss / n)) KiB, anonymous $((anon / n)) KiB"

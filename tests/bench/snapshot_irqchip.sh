#!/bin/sh
# tests/bench/snapshot_irqchip.sh FASTVMM GUESTDIR — restores under the split and the in-kernel
# irqchip, side by side from one interleaved run: process start -> first KVM_RUN of one restore
# (and of a cold boot of the same guest), the restore's own stages, and N clones at once
# (request -> the last clone's first KVM_RUN, and the whole batch's wall time). Medians of REPS
# rounds (default 7), N clones (default 30). POSIX sh, sed and sort only, so that it also runs
# in L1 of the nested harness (busybox), which has a real KVM where a host has none. Not a
# test: nothing passes or fails on time.
F=${1:?usage: snapshot_irqchip.sh FASTVMM GUESTDIR} G=${2:?}
REPS=${REPS:-7} N=${N:-30}
T=$(mktemp -d "${TMPDIR:-/tmp}/fvsnapirq.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
CMD="to=4 snap=3 spin=0"
for m in split kernel; do
	"$F" --irqchip $m --kernel "$G/count.elf" --cmdline "$CMD" --snapshot "$T/$m" \
		--snapshot-at exit-port --snapshot-then stop -q || exit 1
done
# stage NAME < single-VM JSON: its µs from the launch request
stage() { sed -n "s/.*\"stages\":{.*\"$1\":\([0-9.]*\).*/\1/p"; }
# batch NAME STAT < batch JSON: the summary's STAT of stage NAME, µs
batch() { sed -n "s/.*\"stages_us\":{.*\"$1\":{[^}]*\"$2\":\([0-9.]*\).*/\1/p"; }
add() { [ -n "$2" ] && echo "$2" >>"$T/$1"; }
for r in $(seq "$REPS"); do
	for m in split kernel; do
		j=$("$F" --irqchip $m --kernel "$G/count.elf" --cmdline "$CMD" --json -q </dev/null)
		add "cold-$m-run" "$(echo "$j" | stage first_run)"
		j=$("$F" --restore "$T/$m" --json -q </dev/null)
		add "rest-$m-run" "$(echo "$j" | stage first_run)"
		c=$(echo "$j" | stage vm_create) s=$(echo "$j" | stage snapshot_map)
		add "rest-$m-create" "$c"
		add "rest-$m-start" "$(echo "$(echo "$j" | stage vcpus) $(echo "$j" | stage first_run)" | awk '{print $2 - $1}')"
		i=$(echo "$j" | stage irqchip) d=$(echo "$j" | stage devices)
		v=$(echo "$j" | stage vcpus)
		add "rest-$m-map" "$(echo "$c $s" | awk '{print $2 - $1}')"
		add "rest-$m-irq" "$(echo "$s $i" | awk '{print $2 - $1}')"
		add "rest-$m-dev" "$(echo "$i $d" | awk '{print $2 - $1}')"
		add "rest-$m-vcpu" "$(echo "$d $v" | awk '{print $2 - $1}')"
		j=$("$F" --restore "$T/$m" -n "$N" --json -q </dev/null)
		add "n-$m-last" "$(echo "$j" | batch first_run max)"
		add "n-$m-p50" "$(echo "$j" | batch first_run p50)"
		add "n-$m-wall" "$(echo "$j" | sed -n 's/^{"wall_us":\([0-9.]*\).*/\1/p')"
		add "n-$m-ok" "$(echo "$j" | sed -n 's/.*"summary":{"instances":[0-9]*,"launched":[0-9]*,"ok":\([0-9]*\).*/\1/p')"
	done
done
# med FILE: the median, in ms (values are µs)
med() {
	[ -s "$T/$1" ] || { echo "   n/a"; return; }
	sort -n "$T/$1" | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%7.3f", m / 1000}'
}
echo "== restores by irqchip mode: $REPS rounds, medians in ms; 128 MiB own guest (count.elf)"
echo "                                               split    kernel"
echo "  one VM, start -> first KVM_RUN, cold boot:  $(med cold-split-run)  $(med cold-kernel-run)"
echo "  one VM, start -> first KVM_RUN, restore:    $(med rest-split-run)  $(med rest-kernel-run)"
echo "    kvm_open + vm_create (from start):        $(med rest-split-create)  $(med rest-kernel-create)"
echo "    snapshot_map stage:                       $(med rest-split-map)  $(med rest-kernel-map)"
echo "    irqchip stage (create + saved state):     $(med rest-split-irq)  $(med rest-kernel-irq)"
echo "    devices stage:                            $(med rest-split-dev)  $(med rest-kernel-dev)"
echo "    vcpus stage (vCPU state, clock):          $(med rest-split-vcpu)  $(med rest-kernel-vcpu)"
echo "    vcpus -> first KVM_RUN (sandbox, threads): $(med rest-split-start)  $(med rest-kernel-start)"
echo "  -n $N clones, request -> last first KVM_RUN: $(med n-split-last)  $(med n-kernel-last)"
echo "  -n $N clones, first KVM_RUN p50:             $(med n-split-p50)  $(med n-kernel-p50)"
echo "  -n $N clones, wall (all exited and reaped):  $(med n-split-wall)  $(med n-kernel-wall)"
echo "  clones ok per batch (of $N), all rounds:     $(sort -u "$T/n-split-ok" | tr '\n' ' ')/ $(sort -u "$T/n-kernel-ok" | tr '\n' ' ')"

#!/usr/bin/env bash
# tests/soak/run.sh FASTVMM GUESTDIR — soak and fault tests (issue 12), bounded by SOAK_N
# launches (default 1000; `make test` runs a short form) and SOAK_KILLS interrupted batches.
#   1. SOAK_N/2 single launches (hello, exit codes, a cow disk, a tap) and SOAK_N/2 batch
#      instances, then: no fastvmm process, zombie, tap or overlay file of ours is left, and
#      a long batch's launcher holds as many fds and (within the record array's growth) as
#      much memory near its end as near its start;
#   2. SIGTERM and SIGKILL of a batch launcher at random points leave nothing behind;
#   3. disk faults: a full filesystem under a cow overlay gives the guest IOERR for that
#      write (it reports status 1 and exits 3 through the exit port: the VMM ran on), and the
#      base image keeps every byte; EIO from a device-mapper `error` target where the host
#      has device-mapper (else one line says why it is skipped).
# Prints "ok - ..." / "not ok - ..." and a closing count, like the boot tests.
set -u
. "$(dirname "$(readlink -f "$0")")/../kvm_or_skip.sh" "soak tests"
export FASTVMM=$(readlink -f "$1") GUESTS=$(readlink -f "$2")
N=${SOAK_N:-1000}
KILLS=${SOAK_KILLS:-20}
. "$(dirname "$(readlink -f "$0")")/../boot/lib.sh"
# Our own copies of the guests: every process of ours has $TMP in its command line.
cp "$GUESTS"/hello.elf "$GUESTS"/exitcode.elf "$GUESTS"/blk_rw.elf "$GUESTS"/hang.elf "$TMP"/
export TMPDIR=$TMP/tmpdir # overlays (O_TMPFILE) and batch log dirs go here
mkdir -p "$TMPDIR"
img=$TMP/base.img
head -c $((1 << 20)) /dev/urandom >"$img"
sum0=$(sha256sum <"$img")
tapp=fs$$
ours() { pgrep -f -- "$TMP/" | grep -vx "$$" || true; }
zombies() { ps -eo stat=,ppid=,comm= | awk -v p="$1" '$1 ~ /^Z/ && $2 == p && $3 == "fastvmm"' | wc -l; }

# check_clean NAME : nothing of ours left (grace: teardown holders exit with their parent).
check_clean() {
	local left i
	for i in $(seq 50); do
		left=$(ours)
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -z "$left" ]; then ok "$1: no fastvmm process left"; else not_ok "$1: processes left: $(echo $left)"; fi
	local z
	z=$(zombies $$)
	if [ "$z" -eq 0 ]; then ok "$1: no zombie"; else not_ok "$1: $z zombie(s) of ours"; fi
	local taps
	taps=$(ip -o link show 2>/dev/null | grep -c "$tapp" || true)
	if [ "$taps" -eq 0 ]; then ok "$1: no tap left"; else not_ok "$1: $taps tap(s) left"; fi
	local files
	files=$(find "$TMPDIR" -mindepth 1 | wc -l)
	if [ "$files" -eq 0 ]; then ok "$1: nothing left in TMPDIR (overlays, logs)"; else not_ok "$1: left in TMPDIR: $(find "$TMPDIR" -mindepth 1 | head -5)"; fi
}

# ---- 1. launches ----
half=$((N / 2))
bad=0
for i in $(seq 0 $((half - 1))); do
	case $((i % 4)) in
	0) want=0; "$FASTVMM" --kernel "$TMP/hello.elf" -q ;;
	1) want=$((i % 200)); "$FASTVMM" --kernel "$TMP/exitcode.elf" --cmdline "exit=$want" -q ;;
	2) want=0; "$FASTVMM" --kernel "$TMP/blk_rw.elf" --disk "$img,cow" --cmdline "sector=$((i % 2000))" -q ;;
	3) want=0; "$FASTVMM" --kernel "$TMP/hello.elf" --net "tap=$tapp" -q ;;
	esac </dev/null >/dev/null 2>"$TMP/single.err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && not_ok "single launch $i: exit status $rc, want $want" "$TMP/single.err"
	fi
done
[ "$bad" -eq 0 ] && ok "$half single launches: every exit status as expected"
check_clean "after $half single launches"

# Batches of 10, then one long batch whose launcher is sampled near its start and end.
rest=$((N - half))
nb=$(((rest / 2) / 10))
bad=0
for i in $(seq 1 $nb); do
	"$FASTVMM" --kernel "$TMP/blk_rw.elf" --disk "$img,cow" --cmdline "sector={id}" -n 10 --quiet \
		</dev/null >"$TMP/b.out" 2>&1 || { bad=$((bad + 1)); [ "$bad" -le 2 ] && not_ok "batch $i failed" "$TMP/b.out"; }
done
[ "$bad" -eq 0 ] && ok "$nb batches of 10 (cow disks): every instance ok"
long=$((rest - nb * 10))
# Each instance creates its log as it starts: the count of logs is the batch's progress.
ll=$TMP/longlogs
"$FASTVMM" --kernel "$TMP/hello.elf" -n "$long" --parallel 1 --log-dir "$ll" </dev/null >"$TMP/long.out" 2>&1 &
L=$!
sample() { # fds rss_kb of the launcher
	echo "$(ls /proc/$L/fd 2>/dev/null | wc -l) $(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$L/status 2>/dev/null)"
}
s1="" s2=""
while kill -0 $L 2>/dev/null; do
	n=$(ls "$ll" 2>/dev/null | wc -l)
	# A sample taken as the launcher exits (no fds, no VmRSS: a zombie) is no sample.
	[ -z "$s1" ] && [ "$n" -ge $((long / 10 + 1)) ] && s1=$(sample) && [ "${s1#* }" = "" ] && s1=""
	[ -z "$s2" ] && [ "$n" -ge $((long * 3 / 4)) ] && s2=$(sample) && [ "${s2#* }" = "" ] && s2=
	sleep 0.005
done
OUT=$TMP/long.out ERR=$TMP/long.out RC=0
wait $L || RC=$?
expect_rc "long batch of $long" 0
f1=${s1% *} r1=${s1#* } f2=${s2% *} r2=${s2#* }
if [ -n "$f1" ] && [ -n "$f2" ] && [ "$f1" -eq "$f2" ]; then ok "long batch launcher: $f1 fds near the start and near the end"; else not_ok "long batch launcher: fds '$f1' then '$f2'"; fi
# Growth allowed: the launcher's record of each instance (~0.6 KiB) plus one page.
allow=$(((long * 640) / 1024 + 64))
if [ -n "$r1" ] && [ -n "$r2" ] && [ $((r2 - r1)) -le "$allow" ]; then ok "long batch launcher: RSS $r1 KiB then $r2 KiB (allowed growth $allow KiB)"; else not_ok "long batch launcher: RSS '$r1' then '$r2' KiB, allowed growth $allow KiB"; fi
expect_out "long batch report" "^$long/$long ok" "$TMP/long.out"
rm -rf "$ll"
check_clean "after $((nb * 10 + long)) batch instances"
if [ "$(sha256sum <"$img")" = "$sum0" ]; then ok "cow: the base image is unchanged after $N launches"; else not_ok "cow: the base image changed"; fi

# ---- 2. the launcher killed at random points ----
bad=0
for k in $(seq 1 "$KILLS"); do
	sig=TERM
	[ $((k % 2)) -eq 0 ] && sig=KILL
	"$FASTVMM" --kernel "$TMP/hang.elf" -n 6 --parallel 3 --disk "$img,cow" --quiet \
		</dev/null >/dev/null 2>&1 &
	L=$!
	sleep "0.$((RANDOM % 400 + 10))"
	kids=$(cat /proc/$L/task/*/children 2>/dev/null)
	kill -$sig $L 2>/dev/null
	wait $L 2>/dev/null
	for i in $(seq 50); do
		left=$(ours)
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && not_ok "SIG$sig of the launcher (round $k): left $(echo $left)"
	fi
done
[ "$bad" -eq 0 ] && ok "$KILLS launchers killed (SIGTERM/SIGKILL) at random points: every instance gone"
check_clean "after $KILLS killed batches"

# ---- 3. disk faults ----
# A full filesystem under the cow overlay: the guest's write gets IOERR, nothing else breaks.
full=$TMP/full
mkdir -p "$full"
if mount -t tmpfs -o size=64k "fvsoak$$" "$full" 2>/dev/null; then
	dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null
	TMPDIR=$full run enospc --kernel "$TMP/blk_rw.elf" --disk "$img,cow" --cmdline "sector=5" -v -v --timeout 30
	expect_rc "full overlay filesystem: the guest saw IOERR and exited through the port" 3
	expect_out "full overlay filesystem" '^blk_rw: write status 1$'
	expect_err "full overlay filesystem: one log line" 'virtio-blk: request type 1: No space left on device'
	if [ "$(sha256sum <"$img")" = "$sum0" ]; then ok "full overlay filesystem: base image unchanged"; else not_ok "full overlay filesystem: base image changed"; fi
	rm -f "$full/filler"
	TMPDIR=$full run enospc2 --kernel "$TMP/blk_rw.elf" --disk "$img,cow" --cmdline "sector=5" --timeout 30
	expect_rc "the same overlay filesystem with room again" 0
	umount "$full"
else
	echo "# skip: full-filesystem fault: cannot mount a tmpfs here (needs root)"
fi
# EIO from the backing device: a device-mapper table of a linear part and an `error` part.
if dmsetup version >/dev/null 2>&1 && losetup -f >/dev/null 2>&1; then
	loop=$(losetup -f --show "$img")
	dm=fvsoak$$
	printf '0 64 linear %s 0\n64 1984 error\n' "$loop" | dmsetup create "$dm"
	run eio --kernel "$TMP/blk_rw.elf" --disk "/dev/mapper/$dm" --cmdline "sector=100" -v -v --timeout 30
	expect_rc "dm error target: the guest saw IOERR and exited through the port" 3
	expect_err "dm error target: one log line" 'virtio-blk: request type 1: Input/output error'
	dmsetup remove "$dm"
	losetup -d "$loop"
	if [ "$(sha256sum <"$img")" = "$sum0" ]; then ok "dm error target: base image unchanged"; else not_ok "dm error target: base image changed"; fi
else
	echo "# skip: EIO fault: this kernel has no device-mapper (dmsetup version fails); the full-filesystem fault covers the IOERR path"
fi
finish

# Snapshots and clones (issue 9): the counting guest is snapshotted mid-count and restored;
# every clone continues from the saved count, sees only its own writes, and a hostile
# snapshot is refused with one line and exit status 2 before any VM runs.
. "$(dirname "$0")/lib.sh"
# Snapshots save the in-kernel irqchip (KVM_GET_IRQCHIP/PIT2) only: the userspace IOAPIC of
# --irqchip split (the default for these guests) is not in the format yet (issue 9), so every
# run here asks for the kernel irqchip.
printf '#!/bin/sh\nexec "%s" --irqchip kernel "$@"\n' "$FASTVMM" >"$TMP/fastvmm-kernel-irqchip"
chmod +x "$TMP/fastvmm-kernel-irqchip"
REAL_FASTVMM=$FASTVMM
FASTVMM=$TMP/fastvmm-kernel-irqchip

S=$TMP/snap
run origin --kernel "$GUESTS/count.elf" --cmdline "to=12 snap=5" --snapshot "$S" \
	--snapshot-at exit-port
expect_rc "origin" 0
expect_out "origin" '^snapshot point: origin$'
expect_out "origin continues to the end" '^count=12$'
mode=$(stat -c %a "$S/state" "$S/memory" 2>/dev/null | sort -u | tr '\n' ' ')
if [ "$mode" = "600 " ]; then ok "snapshot files are 0600"; else not_ok "snapshot file modes: '$mode'"; fi
alloc=$(du -k "$S/memory" | cut -f1)
if [ "$alloc" -lt 4096 ]; then ok "memory file is sparse (${alloc} KiB of 128 MiB)"; else not_ok "memory file uses ${alloc} KiB"; fi
sum_before=$(md5sum <"$S/memory")

run restore --restore "$S"
expect_rc "restore" 0
expect_out "restore: the guest knows it is clone 0" '^snapshot point: clone 0$'
expect_out "restore continues from the saved count" '^count=6$'
expect_out "restore counts to the end" '^count=12$'
if grep -qE '^count=[1-5]$' "$OUT"; then not_ok "restore recounted from the start" "$OUT"; else ok "restore does not recount 1-5"; fi
expect_lines "restore prints exactly the rest" 9 "$OUT"

run restore-json --restore "$S" --json
expect_out "restore --json has snapshot_map" '"snapshot_map":[0-9.]+'
expect_out "restore --json has first_run" '"first_run":[0-9.]+'
expect_out "restore --json: no kernel_load" '"kernel_load":null'

L=$TMP/clones
run clones --restore "$S" -n 4 --log-dir "$L"
expect_rc "4 clones" 0
expect_out "4 clones: report" '4/4 ok'
for i in 0 1 2 3; do
	f=$L/vm-$i.log
	expect_out "clone $i: own identity" "^snapshot point: clone $i\$" "$f"
	expect_out "clone $i: sees only its own write" "^mark=$i\$" "$f"
	expect_out "clone $i: continues from the saved count" '^count=6$' "$f"
	expect_out "clone $i: reaches the end" '^count=12$' "$f"
done
if [ "$(md5sum <"$S/memory")" = "$sum_before" ]; then ok "clones left the memory file untouched"; else not_ok "memory file changed"; fi

# A VM that reaches the snapshot point on the boot timer and stops there.
R=$TMP/ready
run ready --kernel "$GUESTS/hello.elf" --snapshot "$R" --snapshot-then stop
expect_rc "--snapshot-at ready, then stop" 0
run ready-restore --restore "$R"
expect_rc "restore after ready" 0
if grep -q 'Hello' "$OUT"; then not_ok "restore after ready re-printed the greeting" "$OUT"; else ok "restore after ready resumes after the greeting"; fi

# Other snapshot points: a console line, and a time; with 2 vCPUs.
LN=$TMP/line
run line --kernel "$GUESTS/count.elf" --cpus 2 --cmdline "to=40 snap=99 spin=0" \
	--snapshot "$LN" --snapshot-at 'line:^count=3$' --snapshot-then stop
expect_rc "--snapshot-at line:, 2 vCPUs" 0
run line-restore --restore "$LN"
expect_rc "restore of a line: snapshot" 0
expect_out "restore of a line: snapshot counts on" '^count=40$'
if grep -qE '^count=[1-3]$' "$OUT"; then not_ok "restore of a line: snapshot recounted" "$OUT"; else ok "restore of a line: snapshot continues after count=3"; fi
SEC=$TMP/sec
run seconds --kernel "$GUESTS/hang.elf" --cmdline "spin=1" --snapshot "$SEC" --snapshot-at 0.2 \
	--snapshot-then stop
expect_rc "--snapshot-at 0.2 (a spinning guest)" 0
run seconds-restore --restore "$SEC" --timeout 0.3
expect_rc "restore of a spinning guest runs until the timeout" 124
if [ -s "$OUT" ]; then not_ok "restore of a spinning guest printed its greeting again" "$OUT"; else ok "restore of a spinning guest resumes silently"; fi
run never --kernel "$GUESTS/hello.elf" --snapshot "$TMP/never" --snapshot-at exit-port
expect_rc "a snapshot point never reached: exit status 70" 70
expect_err "a snapshot point never reached says so" 'not saved: the guest never reached the snapshot point'

# A disk: snapshotted once the driver is up (ready), restored as 3 clones that each write
# through their own cow overlay (the image stays bit-identical), then once onto the image.
img=$TMP/disk.img
truncate -s 4M "$img"
D=$TMP/blk
run blk-origin --kernel "$GUESTS/blk_rw.elf" --disk "$img" --cmdline "console=ttyS0 sector=77" \
	--snapshot "$D" --snapshot-then stop
expect_rc "disk origin stops at its snapshot" 0
if grep -q 'wrote, flushed' "$OUT"; then not_ok "disk origin ran past the snapshot" "$OUT"; else ok "disk origin stopped before writing"; fi
sum=$(md5sum <"$img")
run blk-clones --restore "$D" -n 3 --log-dir "$TMP/blk-logs"
expect_rc "3 disk clones" 0
for i in 0 1 2; do
	expect_out "disk clone $i wrote and verified" '^blk_rw: wrote, flushed and verified sector 77$' "$TMP/blk-logs/vm-$i.log"
done
if [ "$(md5sum <"$img")" = "$sum" ]; then ok "disk clones left the image bit-identical"; else not_ok "disk clones changed the image"; fi
run blk-restore --restore "$D"
expect_rc "one restore writes the image itself" 0
if [ "$(md5sum <"$img")" != "$sum" ]; then ok "one restore wrote the image"; else not_ok "one restore did not write the image"; fi
truncate -s 8M "$img"
run blk-resized --restore "$D"
expect_rc "restore with a resized disk" 2
expect_err "restore with a resized disk says why" "disk $img is 8388608 bytes, it was 4194304 at the snapshot"

# Bad snapshots: one line naming the file and the problem, exit 2.
bad() { # NAME REGEX DIR
	run "bad-$1" --restore "$3"
	expect_rc "bad snapshot ($1)" 2
	expect_err "bad snapshot ($1) says why" "$2"
	n=$(wc -l <"$ERR")
	if [ "$n" -eq 1 ]; then ok "bad snapshot ($1): one line"; else not_ok "bad snapshot ($1): $n lines" "$ERR"; fi
}
bad missing-dir "$TMP/nope/state: No such file" "$TMP/nope"
B=$TMP/bad && mkdir -p "$B"
cp "$S/state" "$B/state" && truncate -s 100 "$B/state" && cp --sparse=always "$S/memory" "$B/memory"
bad truncated "$B/state: truncated" "$B"
cp "$S/state" "$B/state" && printf 'X' | dd of="$B/state" bs=1 seek=200 conv=notrunc 2>/dev/null
bad checksum "$B/state: checksum mismatch" "$B"
cp "$S/state" "$B/state" && printf 'NOTSNAPS' | dd of="$B/state" conv=notrunc 2>/dev/null
bad magic "$B/state: not a fastvmm snapshot" "$B"
cp "$S/state" "$B/state" && truncate -s 1M "$B/memory"
bad short-memory "$B/memory: 1048576 bytes, shorter than" "$B"
rm -f "$B/memory"
bad missing-memory "$B/memory: No such file" "$B"
# A restore recreates the origin's irqchip: asking for another one is refused.
RC=0
"$REAL_FASTVMM" --restore "$S" --irqchip split >"$TMP/split.out" 2>"$TMP/split.err" </dev/null || RC=$?
OUT=$TMP/split.out ERR=$TMP/split.err
expect_rc "--restore of a kernel-irqchip snapshot with --irqchip split" 2
expect_err "--irqchip split on a kernel-irqchip snapshot says why" "^fastvmm: --irqchip split: $S was taken with the kernel irqchip$"
run restore-with-kernel --restore "$S" --kernel "$GUESTS/hello.elf"
expect_rc "--restore with --kernel" 2
expect_err "--restore with --kernel says why" '--kernel: not with --restore'

# The snapshot cannot be written: a clear error, and the VM carries on unharmed.
W=$TMP/unwritable && mkdir -p "$W/memory.tmp"
run unwritable --kernel "$GUESTS/count.elf" --cmdline "to=8 snap=3" --snapshot "$W" \
	--snapshot-at exit-port
expect_rc "unwritable snapshot: exit status 70" 70
expect_err "unwritable snapshot: says why" "snapshot $W: .*memory.tmp.*; the VM continues"
expect_out "unwritable snapshot: the guest finished" '^count=8$'
expect_out "unwritable snapshot: the guest was not told it was saved" '^snapshot point: no snapshot$'
finish

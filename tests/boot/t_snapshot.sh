# Snapshots and clones (issue 9): the counting guest is snapshotted mid-count and restored;
# every clone continues from the saved count, sees only its own writes, and a hostile
# snapshot is refused with one line and exit status 2 before any VM runs. The counting guest
# and a virtio-blk guest that waits for its interrupts are snapshotted, restored and cloned
# under both irqchips: --irqchip kernel (KVM's PICs, IOAPIC, PIT) and split (the userspace
# IOAPIC's record, format version 2; the default for these guests).
. "$(dirname "$0")/lib.sh"

# The counting guest and the interrupt-driven disk guest, under irqchip mode $1.
per_mode() {
	local m=$1
	local S=$TMP/snap-$m
	run origin-$m --irqchip "$m" --kernel "$GUESTS/count.elf" --cmdline "to=12 snap=5" \
		--snapshot "$S" --snapshot-at exit-port
	expect_rc "[$m] origin" 0
	expect_out "[$m] origin" '^snapshot point: origin$'
	expect_out "[$m] origin continues to the end" '^count=12$'
	mode=$(stat -c %a "$S/state" "$S/memory" 2>/dev/null | sort -u | tr '\n' ' ')
	if [ "$mode" = "600 " ]; then ok "[$m] snapshot files are 0600"; else not_ok "[$m] snapshot file modes: '$mode'"; fi
	alloc=$(du -k "$S/memory" | cut -f1)
	if [ "$alloc" -lt 4096 ]; then ok "[$m] memory file is sparse (${alloc} KiB of 128 MiB)"; else not_ok "[$m] memory file uses ${alloc} KiB"; fi
	sum_before=$(md5sum <"$S/memory")

	run restore-$m --restore "$S"
	expect_rc "[$m] restore" 0
	expect_out "[$m] restore: the guest knows it is clone 0" '^snapshot point: clone 0$'
	expect_out "[$m] restore continues from the saved count" '^count=6$'
	expect_out "[$m] restore counts to the end" '^count=12$'
	if grep -qE '^count=[1-5]$' "$OUT"; then not_ok "[$m] restore recounted from the start" "$OUT"; else ok "[$m] restore does not recount 1-5"; fi
	expect_lines "[$m] restore prints exactly the rest" 9 "$OUT"

	run restore-json-$m --restore "$S" --json
	expect_out "[$m] restore --json has snapshot_map" '"snapshot_map":[0-9.]+'
	expect_out "[$m] restore --json has first_run" '"first_run":[0-9.]+'
	expect_out "[$m] restore --json: no kernel_load" '"kernel_load":null'
	expect_out "[$m] restore keeps the snapshot's irqchip" "\"irqchip\":\"$m\""

	local L=$TMP/clones-$m
	run clones-$m --restore "$S" -n 4 --log-dir "$L"
	expect_rc "[$m] 4 clones" 0
	expect_out "[$m] 4 clones: report" '4/4 ok'
	for i in 0 1 2 3; do
		f=$L/vm-$i.log
		expect_out "[$m] clone $i: own identity" "^snapshot point: clone $i\$" "$f"
		expect_out "[$m] clone $i: sees only its own write" "^mark=$i\$" "$f"
		expect_out "[$m] clone $i: continues from the saved count" '^count=6$' "$f"
		expect_out "[$m] clone $i: reaches the end" '^count=12$' "$f"
	done
	if [ "$(md5sum <"$S/memory")" = "$sum_before" ]; then ok "[$m] clones left the memory file untouched"; else not_ok "[$m] memory file changed"; fi

	# The other irqchip mode is refused before any VM runs: one line, exit 2.
	local other=split
	[ "$m" = split ] && other=kernel
	run other-mode-$m --restore "$S" --irqchip $other
	expect_rc "[$m] restore with --irqchip $other" 2
	expect_err "[$m] restore with --irqchip $other says why" "^fastvmm: --irqchip $other: $S/state was taken with the $m irqchip, and a restore keeps its mode\$"
	expect_lines "[$m] restore with --irqchip $other: one line" 1 "$ERR"

	# virtio-blk with interrupts (irq=1: the guest halts until each completion's interrupt):
	# snapshotted at ready with its IOAPIC pin programmed, restored as 3 clones (own cow
	# overlays) and once onto the image. A restore that lost the GSI routes would leave the
	# guest halted until --timeout. Under split, "msis":0 says no interrupt went through
	# fastvmm's IOAPIC: the irqfd -> MSI route delivered every one in the kernel. wz=0: no
	# WRITE_ZEROES, which a plain image on tmpfs (TMPDIR) cannot do.
	local img=$TMP/irq-$m.img D=$TMP/blkirq-$m
	truncate -s 4M "$img"
	run blkirq-origin-$m --irqchip "$m" --kernel "$GUESTS/blk_rw.elf" --disk "$img" \
		--cmdline "console=ttyS0 sector=33 irq=1 wz=0" --snapshot "$D" --snapshot-then stop
	expect_rc "[$m] irq disk origin stops at its snapshot" 0
	local sum
	sum=$(md5sum <"$img")
	run blkirq-clones-$m --restore "$D" -n 3 --log-dir "$TMP/blkirq-logs-$m" --timeout 20
	expect_rc "[$m] 3 irq disk clones" 0
	for i in 0 1 2; do
		f=$TMP/blkirq-logs-$m/vm-$i.log
		expect_out "[$m] irq disk clone $i wrote and verified" '^blk_rw: wrote, flushed and verified sector 33$' "$f"
		expect_out "[$m] irq disk clone $i: completions by interrupt" '^blk_rw: completions by interrupt: [1-9][0-9]*$' "$f"
	done
	if [ "$(md5sum <"$img")" = "$sum" ]; then ok "[$m] irq disk clones left the image bit-identical"; else not_ok "[$m] irq disk clones changed the image"; fi
	run blkirq-restore-$m --restore "$D" --json --timeout 20
	expect_rc "[$m] irq disk restore" 0
	expect_err "[$m] irq disk restore: completions by interrupt" '^blk_rw: completions by interrupt: [1-9][0-9]*$'
	if [ "$m" = split ]; then
		expect_out "[$m] irq disk restore: no interrupt through userspace" '"ioapic":\{"msis":0,'
	fi
	if [ "$(dd if="$img" bs=512 skip=33 count=1 2>/dev/null | head -c 19)" = FASTVMM-BLK-PATTERN ]; then
		ok "[$m] irq disk restore wrote sector 33 of the image"
	else
		not_ok "[$m] irq disk restore: sector 33 of the image lacks the pattern"
	fi
}

per_mode kernel
per_mode split
S=$TMP/snap-split

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
# The greeting once in all: before the snapshot (the origin printed it, the clone resumes
# silently) or, on a slow host where 0.2 s came first (ASan in L1), after it — never twice.
n=$(cat "$TMP/seconds.out" "$OUT" | grep -c 'hang guest: waiting forever')
if [ "$n" -eq 1 ]; then ok "a spinning guest's greeting once across origin and restore"; else not_ok "a spinning guest's greeting $n times across origin and restore" "$TMP/seconds.out" "$OUT"; fi
run never --kernel "$GUESTS/hello.elf" --snapshot "$TMP/never" --snapshot-at exit-port
expect_rc "a snapshot point never reached: exit status 70" 70
expect_err "a snapshot point never reached says so" 'not saved: the guest never reached the snapshot point'

# A disk: snapshotted once the driver is up (ready), restored as 3 clones that each write
# (wz=0: no WRITE_ZEROES, which a plain image on a tmpfs TMPDIR cannot do)
# through their own cow overlay (the image stays bit-identical), then once onto the image.
img=$TMP/disk.img
truncate -s 4M "$img"
D=$TMP/blk
run blk-origin --kernel "$GUESTS/blk_rw.elf" --disk "$img" --cmdline "console=ttyS0 sector=77 wz=0" \
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
# the memory file only has to be there, as long as the RAM (the state is refused first): a
# hole of that size (busybox cp has no --sparse)
cp "$S/state" "$B/state" && truncate -s 100 "$B/state" &&
	truncate -s "$(wc -c <"$S/memory")" "$B/memory"
bad truncated "$B/state: truncated" "$B"
cp "$S/state" "$B/state" && printf 'X' | dd of="$B/state" bs=1 seek=200 conv=notrunc 2>/dev/null
bad checksum "$B/state: checksum mismatch" "$B"
cp "$S/state" "$B/state" && printf 'NOTSNAPS' | dd of="$B/state" conv=notrunc 2>/dev/null
bad magic "$B/state: not a fastvmm snapshot" "$B"
cp "$S/state" "$B/state" && truncate -s 1M "$B/memory"
bad short-memory "$B/memory: 1048576 bytes, shorter than" "$B"
rm -f "$B/memory"
bad missing-memory "$B/memory: No such file" "$B"
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

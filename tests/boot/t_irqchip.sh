# Split and in-kernel irqchips (issue 11): interrupts a guest really takes through each, the
# per-image choice of auto, the PIC/PIT guard, and nothing left behind after the VM.
. "$(dirname "$0")/lib.sh"

# level=0: kvm-pvm EOIs level vectors early with either irqchip (docs/irqchip.md); the
# level-triggered part runs in the nested harness.
for mode in split kernel; do
	for g in irq irq-pvh; do
		run "irq-$mode-$g" --irqchip $mode --kernel "$GUESTS/$g.elf" --cmdline level=0 --json
		expect_rc "$g --irqchip $mode" 0
		expect_err "$g --irqchip $mode: edge interrupt through the IOAPIC" '^irq: edge ok$'
		expect_err "$g --irqchip $mode: masked pin stays quiet" '^irq: all ok$'
		expect_out "$g --irqchip $mode: JSON names the irqchip" "\"irqchip\":\"$mode\""
	done
done
run irq-split-counters --irqchip split --kernel "$GUESTS/irq.elf" --cmdline level=0 --json
expect_out "split: the userspace IOAPIC sent the MSI and set routes" \
	'"ioapic":\{"msis":[1-9][0-9]*,"eois":[0-9]+,"route_updates":[1-9]'

# auto: own guests carry the fastvmm note → split; the same image without notes → kernel.
run auto-own --kernel "$GUESTS/hello.elf" --json -q
expect_out "auto gives a noted own guest the split irqchip" '"irqchip":"split"'
if command -v objcopy >/dev/null; then
	bare=$TMP/bare.elf
	objcopy --remove-section=.note "$GUESTS/hello.elf" "$bare"
	run auto-bare --kernel "$bare" --json
	expect_rc "auto: an unknown ELF boots" 0
	expect_out "auto gives an unknown ELF the in-kernel irqchip (PIC+PIT)" '"irqchip":"kernel"'
else
	skip "auto gives an unknown ELF the in-kernel irqchip" "no objcopy to strip the note"
fi

run bad-irqchip --irqchip pic
expect_rc "--irqchip pic is refused" 2
expect_err "--irqchip pic: one clear line" "^fastvmm: --irqchip: 'pic' is not auto, kernel or split$"

# A guest that relies on the PIC or PIT is stopped under split, never left waiting.
run pic-guard --irqchip split --kernel "$GUESTS/irq.elf" --cmdline pic=1 --timeout 20
expect_rc "split: a guest unmasking the PIT's IRQ 0 at the 8259 is stopped" 126
expect_out "pic guard: the guest did initialise the PIC (ICWs pass)" '^irq: pic initialised$'
expect_err "pic guard names the fix" 'unmasked IRQ 0 at the 8259 PIC.*--irqchip kernel'
run pit-guard --irqchip split --kernel "$GUESTS/irq.elf" --cmdline pit=1 --timeout 20
expect_rc "split: a guest reading the PIT is stopped" 126
expect_err "pit guard names the fix" 'reads the 8254 PIT counter 0.*--irqchip kernel'

# Nothing left behind: under a child subreaper (tests/boot/subreap.c: /bin/fvsubreap in the
# nested harness's L1, else compiled here), every descendant of one fastvmm run has exited
# soon after it; split has no teardown holder at all, kernel has exactly one.
SUBREAP=$(command -v fvsubreap) ||
	{ ${CC:-cc} -O2 -o "$TMP/subreap" "$(dirname "$0")/subreap.c" && SUBREAP=$TMP/subreap; } ||
	SUBREAP=""
desc() {
	if [ -n "$SUBREAP" ]; then "$SUBREAP" "$FASTVMM" "$@"; else echo "no subreaper"; fi
}
out=$(desc --irqchip split -q)
[ "$out" = "rc=0 descendants-after-exit=0" ] && ok "split: no holder, nothing outlives fastvmm" ||
	not_ok "split: no holder, nothing outlives fastvmm ($out)"
out=$(desc --irqchip kernel -q)
[ "$out" = "rc=0 descendants-after-exit=1" ] && ok "kernel: one teardown holder, and it exits" ||
	not_ok "kernel: one teardown holder, and it exits ($out)"
out=$(desc -n 3 -q --irqchip split)
case $out in "rc=0 descendants-after-exit=0") ok "batch -n 3 (split): every instance reaped, nothing outlives it" ;;
*) not_ok "batch -n 3 ($out)" ;; esac

# KVM_GET_SUPPORTED_CPUID cached across processes (vmm/cpuid_cache.c): the first launch asks
# KVM and stores the table, the next one reads it; a damaged file is a miss, never used.
cache=$(mktemp -d "$TMP/cpuid.XXXXXX")
FASTVMM_CACHE_DIR=$cache run cpuid-1 --json -q
expect_out "cpuid cache: first launch asks KVM" '"cpuid_cached":false'
FASTVMM_CACHE_DIR=$cache run cpuid-2 --json -q
expect_rc "cpuid cache: second launch boots" 0
expect_out "cpuid cache: second launch reads the cache" '"cpuid_cached":true'
f=$(ls "$cache"/cpuid-* | head -1)
printf 'garbage' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
FASTVMM_CACHE_DIR=$cache run cpuid-3 --json -q
expect_rc "cpuid cache: a damaged file still boots" 0
expect_out "cpuid cache: a damaged file is not used" '"cpuid_cached":false'
FASTVMM_CACHE_DIR=$cache run cpuid-4 --json -q
expect_out "cpuid cache: and is replaced" '"cpuid_cached":true'
chmod 777 "$cache"
FASTVMM_CACHE_DIR=$cache run cpuid-5 --json -q
expect_out "cpuid cache: a directory others may write is not trusted" '"cpuid_cached":false'
FASTVMM_CPUID_CACHE=0 run cpuid-6 --json -q
expect_out "cpuid cache: FASTVMM_CPUID_CACHE=0 asks KVM" '"cpuid_cached":false'
rm -rf "$cache"

# --hugepages: 2 MiB pages (this host: THP, no hugetlbfs pool); a bad size is refused.
run huge --hugepages --mem 64M --kernel "$GUESTS/hello.elf"
expect_rc "--hugepages boots" 0
expect_out "--hugepages: the guest ran" '^Hello from fastvmm guest$'
run huge-bad --hugepages --mem 3M
expect_rc "--hugepages --mem 3M is refused" 2
expect_err "--hugepages --mem 3M: one clear line" '^fastvmm: --hugepages: --mem must be a multiple of 2 MiB$'
out=$(desc -n 3 -q --irqchip kernel)
case $out in "rc=0 descendants-after-exit="[0-3]) ok "batch -n 3 (kernel): returns without waiting for teardowns ($out)" ;;
*) not_ok "batch -n 3 (kernel) ($out)" ;; esac

finish

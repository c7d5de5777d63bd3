# virtio-mmio boot tests (issue 5): own guests drive virtio-blk through the transport; the
# bytes are checked in the image file, cow leaves the base untouched, ro refuses writes, and a
# hostile guest gets its device reset while fastvmm carries on.
. "$(dirname "$0")/lib.sh"

# A 4 MiB image of random bytes: the guest writes a recognisable pattern into one sector.
img=$TMP/disk.img
head -c $((4 << 20)) /dev/urandom >"$img"
# expect_sector NAME FILE SECTOR : the blk_rw.elf pattern is in that sector of FILE.
expect_sector() {
	local got
	got=$(dd if="$2" bs=512 skip="$3" count=1 2>/dev/null | head -c 19)
	if [ "$got" = FASTVMM-BLK-PATTERN ]; then ok "$1: pattern in sector $3 of the file"; else not_ok "$1: sector $3 holds '$got'"; fi
}

run blk --kernel "$GUESTS/blk_rw.elf" --disk "$img" --cmdline "console=ttyS0 sector=77" --timeout 30
expect_rc "blk_rw" 0
expect_out "blk_rw" '^blk_rw: wrote, flushed and verified sector 77$'
expect_out "blk_rw" 'capacity 8192 sectors, id fastvmm-vd0, past-end read status 1'
expect_sector "blk_rw" "$img" 77
expect_out "blk_rw" '^blk_rw: write-zeroes verified on sector 78$'
if [ "$(dd if="$img" bs=512 skip=78 count=1 2>/dev/null | tr -d '\0' | wc -c)" -eq 0 ]; then ok "blk_rw: sector 78 is zeros in the file"; else not_ok "blk_rw: sector 78 not zeroed"; fi
run blk2 --kernel "$GUESTS/blk_rw.elf" --disk "$img" --cpus 2 --cmdline "sector=90" --timeout 30
expect_rc "blk_rw --cpus 2" 0
expect_sector "blk_rw --cpus 2" "$img" 90

# cow: the guest sees its write, the base file does not change.
before=$(sha256sum <"$img")
run cow --kernel "$GUESTS/blk_rw.elf" --disk "$img,cow" --cmdline "sector=200" --timeout 30
expect_rc "blk_rw cow" 0
expect_out "blk_rw cow" 'verified sector 200$'
after=$(sha256sum <"$img")
if [ "$before" = "$after" ]; then ok "cow: base image sha256 unchanged"; else not_ok "cow: base image changed"; fi

# cow set-up does not grow with the image: a 64 GiB sparse base boots as fast as 4 MiB.
big=$TMP/big.img
truncate -s 64G "$big"
run cowbig --kernel "$GUESTS/blk_rw.elf" --disk "$big,cow" --json --quiet --timeout 30
expect_rc "blk_rw cow on a 64 GiB image" 0
if [ "$(stat -c %b "$big")" -eq 0 ]; then ok "cow: 64 GiB base still has no data blocks"; else not_ok "cow: base grew"; fi

# ro: the write fails with IOERR, the file is untouched.
run ro --kernel "$GUESTS/blk_rw.elf" --disk "$img,ro" --cmdline "sector=300" --timeout 30
expect_rc "blk_rw ro" 3
expect_out "blk_rw ro" '^blk_rw: write status 1$'
after=$(sha256sum <"$img")
if [ "$before" = "$after" ]; then ok "ro: image unchanged"; else not_ok "ro: image changed"; fi

# A second writer of the same image is refused; cow/ro users may share it.
run missing --kernel "$GUESTS/blk_rw.elf" --disk "$TMP/nope.img"
expect_rc "missing disk image" 2
expect_err "missing disk image" 'fastvmm: --disk .*/nope.img: No such file or directory'

# ACPI: the guest walks RSDP → XSDT → FADT → DSDT like an OS, counts the LNRO0005 devices,
# and powers off through the FADT's sleep control register with \_S5_'s SLP_TYP.
run acpi --kernel "$GUESTS/acpi_off.elf" --disk "$img,ro" --disk "$img,cow" --virtio-discovery acpi --json --timeout 30
expect_rc "ACPI S5 poweroff" 0
expect_err "ACPI S5 poweroff" '^acpi_off: 2 virtio-mmio device\(s\) in the DSDT; S5 via port 0x0+600$'
expect_out "ACPI S5 poweroff" '"outcome":"shutdown"'
# auto discovery for an ELF kernel: the command line, no ACPI tables.
run noacpi --kernel "$GUESTS/acpi_off.elf" --disk "$img,ro" --timeout 30
expect_rc "ELF kernel, auto discovery: no ACPI" 1
expect_out "ELF kernel, auto discovery: no ACPI" '^acpi_off: no valid RSDP$'
run both --kernel "$GUESTS/blk_rw.elf" --disk "$img" --virtio-discovery both --cmdline "sector=9" --timeout 30
expect_rc "discovery both: cmdline entries too" 0
expect_sector "discovery both" "$img" 9

# Hostile drivers: each malformed queue puts the device in NEEDS_RESET with one logged reason;
# fastvmm survives, the guest resets the device and uses it again, the image is untouched.
evil_reason() {
	case $1 in
	1) printf '%s\n' 'queue 0: queue size 3 is not a power of two in 1..256' ;;
	2) printf '%s\n' 'queue 0: descriptor table outside guest RAM \(gpa 0xbff00000, 8 entries\)' ;;
	3) printf '%s\n' 'descriptor chain from head 0 loops \(more than 8 links\)' ;;
	4) printf '%s\n' 'available ring slot 0 holds descriptor index 200 \(queue size 8\)' ;;
	5) printf '%s\n' 'descriptor 1 points outside guest RAM \(gpa 0x100000, len 4294967295\)' ;;
	6) printf '%s\n' 'available index 1000 is 1000 entries ahead of the device' ;;
	7) printf '%s\n' 'request at descriptor 0 has no header or no status byte' ;;
	8) printf '%s\n' 'indirect table of descriptor 0 has bad length 40' ;;
	esac
}
before=$(sha256sum <"$img")
for m in 1 2 3 4 5 6 7 8; do
	run evil$m --kernel "$GUESTS/evil_virtio.elf" --disk "$img" --cmdline "evil=$m" --timeout 30
	expect_rc "evil_virtio evil=$m" 0
	expect_err "evil_virtio evil=$m" "^fastvmm: vm 0: virtio-blk: $(evil_reason $m).*; device needs reset$"
	expect_out "evil_virtio evil=$m" '^evil_virtio: recovered after reset, id fastvmm-vd0$'
	n=$(grep -c 'device needs reset' "$ERR")
	if [ "$n" -eq 1 ]; then ok "evil=$m: one log line"; else not_ok "evil=$m: $n log lines" "$ERR"; fi
done
after=$(sha256sum <"$img")
if [ "$before" = "$after" ]; then ok "evil: image unchanged"; else not_ok "evil: image changed"; fi

# virtio-net: the guest ARPs for and pings a peer (the kernel of a private network namespace)
# on a tap device. Needs iproute2 (busybox's ip has no netns) and /dev/net/tun.
if [ "$(id -u)" -eq 0 ] && ip netns list >/dev/null 2>&1 && [ -c /dev/net/tun ]; then
	ns=fastvmm-t$$
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" sh -c 'ip link set lo up && ip tuntap add dev fvtap0 mode tap vnet_hdr &&
		ip addr add 10.77.0.1/24 dev fvtap0 && ip link set fvtap0 up'
	NS="ip netns exec $ns"
	OUT=$TMP/net.out ERR=$TMP/net.err RC=0
	timeout -k 5 60 $NS "$FASTVMM" --kernel "$GUESTS/net_echo.elf" --net tap=fvtap0 \
		--mac 52:54:00:12:34:56 --timeout 30 -v >"$OUT" 2>"$ERR" </dev/null || RC=$?
	expect_rc "net_echo" 0
	expect_out "net_echo" '^net_echo: peer mac ([0-9a-f]{2}:){5}[0-9a-f]{2}, ICMP echo reply received'
	expect_err "net_echo" 'virtio-net on fvtap0, mac 52:54:00:12:34:56'
	# (the echo reply itself proves the peer used the guest's MAC from the ARP request)
	# Jailed (own network namespace, nobody): the tap opened before the jail still carries it.
	OUT=$TMP/netj.out ERR=$TMP/netj.err RC=0
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		timeout -k 5 60 $NS "$FASTVMM" --kernel "$GUESTS/net_echo.elf" --net tap=fvtap0 \
		--mac 52:54:00:12:34:57 --timeout 30 --jail --jail-cgroup none >"$OUT" 2>"$ERR" </dev/null || RC=$?
	expect_rc "jailed net_echo" 0
	expect_out "jailed net_echo" '^net_echo: peer mac ([0-9a-f]{2}:){5}[0-9a-f]{2}, ICMP echo reply received'
	# A tap fastvmm creates itself is gone when the VM ends.
	OUT=$TMP/net2.out ERR=$TMP/net2.err RC=0
	timeout -k 5 60 $NS "$FASTVMM" --kernel "$GUESTS/hello.elf" --net 'tap=fvtmp%u' -v -v >"$OUT" 2>"$ERR" </dev/null || RC=$?
	expect_rc "hello with a fresh tap" 0
	expect_err "tap name from the instance id" 'virtio-net on fvtmp0, mac 52:54:00:f0:00:00'
	if ! $NS ip link show fvtmp0 >/dev/null 2>&1; then ok "net: fastvmm's own tap removed at exit"; else not_ok "net: tap fvtmp0 left behind"; fi
	ip netns del "$ns"
else
	echo "# skipping virtio-net tests: needs root, iproute2's ip netns and /dev/net/tun"
fi

finish

#!/bin/sh
# tests/nested/stop-l1.sh — stopping a VM by signal, as an engine does (SIGTERM), through the
# OCI runtime and the CLI's --stop-grace (installed as /bin/stop-l1 by prepare.d/oci.sh;
# busybox sh in L1). A guest that listens to the ACPI power button (Debian's Linux) has it
# pressed: with fvtest=button (through the runtime) it powers off by itself within the grace
# period (status 0, its own end); with fvtest=nobutton (through the CLI) it does not, and the
# VM is stopped when the grace period is over (143). A guest that does not listen (the own hang guest: its pin stays masked) is
# stopped at once. Prints one "L1STOP ..." line per fact for tests/nested/scenarios-oci.
O="/bin/fastvmm oci --root /tmp/ocis"
bundle() { # DIR FVTEST GRACE
	mkdir -p "$1/rootfs"
	cp /l2/vmlinuz /l2/initrd.gz "$1/rootfs/"
	printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/vmlinuz"]},"annotations":{"org.fastvmm.initrd":"/initrd.gz","org.fastvmm.mem":"256M","org.fastvmm.timeout":"150","org.fastvmm.stop-grace":"%s","org.fastvmm.cmdline":"%s fvtest=%s"}}\n' \
		"$3" "$L2CMDLINE" "$2" >"$1/config.json"
}
up() { cut -d' ' -f1 /proc/uptime; }
# stop_run NAME READY-TEXT COMMAND...: runs COMMAND in the background, sends SIGTERM once its
# output has READY-TEXT, prints the status and the seconds from the signal to the end.
stop_run() {
	n=$1 ready=$2
	shift 2
	"$@" >"/tmp/$n.out" 2>&1 &
	p=$!
	for i in $(seq 240); do grep -q "$ready" "/tmp/$n.out" && break; sleep 0.5; done
	t0=$(up)
	kill -TERM $p
	wait $p
	rc=$?
	echo "L1STOP $n rc=$rc after_s=$(awk "BEGIN{print $(up)-$t0}")"
	sed "s/^/[$n] /" "/tmp/$n.out"
}
bundle /tmp/sb/button button 60
stop_run oci-button 'L2 button armed' $O run --bundle /tmp/sb/button b1
echo "L1STOP root-left=$(ls /tmp/ocis | wc -l)"
# The CLI (the same core), on the in-kernel irqchip (the runtime's Linux ran on the split
# one): a guest that ignores the button.
stop_run cli-nobutton 'L2 button armed' /bin/fastvmm --irqchip kernel --stop-grace 3 \
	--kernel /l2/vmlinuz --initrd /l2/initrd.gz --mem 256M --timeout 150 \
	--cmdline "$L2CMDLINE fvtest=nobutton"
stop_run cli-hang 'waiting forever' /bin/fastvmm --stop-grace 60 --kernel /guests/hang.elf

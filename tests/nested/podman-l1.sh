#!/bin/sh
# tests/nested/podman-l1.sh — podman 4 with conmon inside L1 (busybox sh; installed as
# /bin/podman-l1 by prepare.d/oci.sh) driving fastvmm-oci as its --runtime on L1's real KVM:
# what tests/oci/t_podman.sh does on a host with /dev/kvm (run --rm from a --rootfs and from an
# image, exit codes, env knobs, a tty, detached ps/stop/logs/rm, a bad kernel), and Debian's
# Linux stopped by `podman stop`, which presses its power button. Prints one "L1POD ..." line
# per fact for the scenario's checks (tests/nested/scenarios-oci).
[ -f /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /etc/containers /var/tmp /run /tmp/pd /dev/shm
grep -q " /dev/shm " /proc/mounts || mount -t tmpfs shm /dev/shm # podman's lock manager
[ -e /dev/pts/ptmx ] || { mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts; }
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
[ -e /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
[ -e /etc/group ] || echo 'root:x:0:' >/etc/group
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >/etc/containers/policy.json
# Private storage on vfs (no overlay module in L1), no network stack (no netavark or CNI).
P="podman --root /tmp/pd/storage --runroot /tmp/pd/run --tmpdir /tmp/pd/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime /bin/fastvmm-oci"
R=/tmp/pr
mkdir -p $R
cp /guests/hello.elf /guests/exitcode.elf /guests/hang.elf $R/
pod() { # NAME ARGS...: podman ARGS, output in /tmp/pd/NAME.out, status in RC
	n=$1
	shift
	$P "$@" >/tmp/pd/$n.out 2>&1 </dev/null
	RC=$?
}
pod version version
echo "L1POD version rc=$RC $(grep -m1 '^Version' /tmp/pd/version.out)"
pod h1 run --rm --network none --rootfs $R /hello.elf
echo "L1POD run-hello rc=$RC $(grep -c 'Hello from fastvmm guest' /tmp/pd/h1.out) hello line(s)"
pod h2 run --rm --network none --rootfs $R /exitcode.elf exit=7
echo "L1POD run-code rc=$RC"
pod h3 run --rm --network none -e FASTVMM_CMDLINE=exit=6 --rootfs $R /exitcode.elf
echo "L1POD run-env rc=$RC"
pod load load -i /oci/img.tar
echo "L1POD load rc=$RC"
pod h4 run --rm --network none localhost/fvt:1
echo "L1POD run-image rc=$RC $(grep -c 'Hello from fastvmm guest' /tmp/pd/h4.out) hello line(s)"
pod h5 run --rm --network none -t --rootfs $R /hello.elf
echo "L1POD run-tty rc=$RC $(grep -c 'Hello from fastvmm guest' /tmp/pd/h5.out) hello line(s)"

# Detached: ps shows it Up; stop sends SIGTERM: the hang guest does not listen to the power
# button, so a clean stop at once, Exited (143); logs; rm.
pod d1 run -d --network none --name fvm --rootfs $R /hang.elf
echo "L1POD detach rc=$RC"
for i in $(seq 40); do $P logs fvm 2>/dev/null | grep -q 'waiting forever' && break; sleep 0.5; done
pod ps ps --format '{{.Names}} {{.Status}}'
echo "L1POD ps $(grep '^fvm ' /tmp/pd/ps.out)"
pod stop stop -t 10 fvm
pod insp inspect fvm --format '{{.State.Status}} {{.State.ExitCode}}'
echo "L1POD stop rc=$RC $(cat /tmp/pd/insp.out)"
pod logs logs fvm
echo "L1POD logs $(grep -c 'hang guest: waiting forever' /tmp/pd/logs.out)"
pod rm rm fvm
echo "L1POD rm rc=$RC"

# Debian's Linux: `podman stop` presses the power button, the guest (fvtest=button) powers
# off by itself within org.fastvmm.stop-grace: Exited (0), well before podman's own 10 s.
mkdir -p /tmp/plx
cp /l2/vmlinuz /l2/initrd.gz /tmp/plx/
pod l1 run -d --network none --name flx --annotation org.fastvmm.initrd=/initrd.gz \
	--annotation org.fastvmm.mem=256M --annotation org.fastvmm.stop-grace=8 \
	--annotation "org.fastvmm.cmdline=$L2CMDLINE fvtest=button" --rootfs /tmp/plx /vmlinuz
echo "L1POD linux-detach rc=$RC"
for i in $(seq 240); do $P logs flx 2>/dev/null | grep -q 'L2 button armed' && break; sleep 0.5; done
t0=$(cut -d' ' -f1 /proc/uptime)
pod lstop stop -t 10 flx
t1=$(cut -d' ' -f1 /proc/uptime)
pod linsp inspect flx --format '{{.State.Status}} {{.State.ExitCode}}'
echo "L1POD linux-stop rc=$RC $(cat /tmp/pd/linsp.out) after_s=$(awk "BEGIN{print $t1-$t0}")"
pod llogs logs flx
sed 's/^/[linux] /' /tmp/pd/llogs.out
pod lrm rm flx

pod bad run --rm --network none --rootfs $R /nope.elf
echo "L1POD bad rc=$RC $(grep -o 'process.args\[0\] (the kernel): /nope.elf: no such file in the rootfs' /tmp/pd/bad.out)"
pod left ps -a -q
echo "L1POD left containers=$(wc -l </tmp/pd/left.out)"

# The engine's share of a launch: `podman run --rm` of the hello guest against the CLI and
# `fastvmm oci run` (tests/nested/engine-share-l1.sh).
. /bin/engine-share.sh
podman_hello() { $P run --rm --network none --rootfs $R /hello.elf; }
engine_share L1POD podman_run podman_hello

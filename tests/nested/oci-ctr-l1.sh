#!/bin/sh
# tests/nested/oci-ctr-l1.sh — containerd 1.6 inside L1 (busybox sh; installed as
# /bin/oci-ctr-l1 by prepare.d/oci.sh) with fastvmm-oci as the runc binary of its stock
# io.containerd.runc.v2 shim, on L1's real KVM: an imported OCI image of the own guests, and
# Debian's Linux (the harness's L2 kernel and initramfs) from a --rootfs directory. Prints one
# "L1CTR ..." line per fact for the scenario's checks.
[ -f /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
D=/tmp/ctd
mkdir -p $D /run /var/lib
cat >$D/config.toml <<TOML
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/sock"
[ttrpc]
  address = "$D/sock.ttrpc"
TOML
containerd --config $D/config.toml >$D/log 2>&1 &
C="ctr --address $D/sock --namespace fvt"
for i in $(seq 120); do $C version >/dev/null 2>&1 && break; sleep 0.5; done
$C version >/dev/null 2>&1 && echo "L1CTR containerd up" || { tail -20 $D/log; exit 1; }
R="--runc-binary /bin/fastvmm-oci"

$C images import --snapshotter native /oci/img.tar >$D/import.out 2>&1
echo "L1CTR import rc=$? $($C images ls -q | grep -c fvt)"
$C run --rm --snapshotter native $R localhost/fvt:1 h1 >$D/h1.out 2>&1
echo "L1CTR run-hello rc=$? $(grep -c 'Hello from fastvmm guest' $D/h1.out) hello line(s)"
$C run --rm --snapshotter native $R localhost/fvt:1 h2 /exitcode.elf exit=9 >$D/h2.out 2>&1
echo "L1CTR run-code rc=$?"

# Detached with a memory limit: RUNNING, the VM process in the task's cgroup with the limit
# + 32 MiB of VMM overhead; `ctr task kill` (SIGTERM) stops the VM cleanly: exit 143.
$C run -d --snapshotter native $R --memory-limit 67108864 localhost/fvt:1 h4 /hang.elf >$D/h4.out 2>&1
for i in $(seq 60); do $C task ls | grep -q 'h4.*RUNNING' && break; sleep 0.5; done
pid=$($C task ls | awk '$1 == "h4" {print $2}')
cg=$(sed -n 's/^0::\(.*\)/\1/p' /proc/$pid/cgroup 2>/dev/null)
echo "L1CTR detach $($C task ls | awk '$1 == "h4" {print $3}') exe=$(readlink /proc/$pid/exe) memory.max=$(cat /sys/fs/cgroup$cg/memory.max 2>&1)"
$C task kill h4
for i in $(seq 60); do $C task ls | grep -q 'h4.*STOPPED' && break; sleep 0.5; done
$C task delete h4 >$D/h4del.out 2>&1
echo "L1CTR kill-term $(grep -o 'non-zero exit code [0-9]*' $D/h4del.out)"
$C container delete h4

# Debian's Linux as the workload: a rootfs holding its bzImage and initramfs.
mkdir -p /tmp/lroot
cp /l2/vmlinuz /l2/initrd.gz /tmp/lroot/
$C run --rm $R --rootfs --annotation org.fastvmm.initrd=/initrd.gz \
	--annotation org.fastvmm.mem=256M --annotation org.fastvmm.timeout=100 \
	--annotation "org.fastvmm.cmdline=$L2CMDLINE" /tmp/lroot l1 /vmlinuz >$D/l1.out 2>&1
echo "L1CTR run-linux rc=$?"
cat $D/l1.out

$C run --rm --snapshotter native $R localhost/fvt:1 h3 /nope.elf >$D/h3.out 2>&1
echo "L1CTR bad rc=$? $(grep -o 'OCI runtime create failed: process.args\[0\] (the kernel): /nope.elf: no such file in the rootfs' $D/h3.out)"
# The engine's share of a launch: `ctr run --rm` of the hello guest against the CLI and
# `fastvmm oci run` (tests/nested/engine-share-l1.sh).
. /bin/engine-share.sh
ctr_hello() { $C run --rm --snapshotter native $R localhost/fvt:1 "b$1"; }
engine_share L1CTR ctr_run ctr_hello
echo "L1CTR left tasks=$($C task ls -q | wc -l) containers=$($C container ls -q | wc -l)"
kill %1 2>/dev/null

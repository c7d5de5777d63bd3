#!/bin/sh
# tests/nested/oci-l1.sh — the OCI runtime inside L1 (busybox sh; installed as /bin/oci-l1 by
# prepare.d/oci.sh): bundles of the own guests driven through the runtime's command line the
# way an engine's shim does, on a real /dev/kvm. Prints one "L1OCI ..." line per fact; the
# scenarios (tests/nested/scenarios-oci) check them. No bash, python or engine in L1:
# `run` is the foreground form (create + start + wait + delete), whose status is the VM's.
O="/bin/fastvmm oci --root /tmp/ocir"
bundle() { # DIR ARGS_JSON GUEST [EXTRA_JSON]
	mkdir -p "$1/rootfs"
	cp "/guests/$3" "$1/rootfs/"
	printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":%s}%s}\n' \
		"$2" "${4:+,$4}" >"$1/config.json"
}
state() { $O state "$1" 2>&1 | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
bundle /tmp/b/hello '["/hello.elf"]' hello.elf
bundle /tmp/b/code '["/exitcode.elf","exit=7"]' exitcode.elf
bundle /tmp/b/hang '["/hang.elf"]' hang.elf
bundle /tmp/b/ann '["ignored"]' exitcode.elf '"annotations":{"org.fastvmm.kernel":"/exitcode.elf","org.fastvmm.cmdline":"exit=42","org.fastvmm.mem":"16M","org.fastvmm.cpus":"2"}'

$O run --bundle /tmp/b/hello r1 >/tmp/r1.out 2>&1
echo "L1OCI run-hello rc=$? $(grep -c 'Hello from fastvmm guest' /tmp/r1.out) hello line(s)"
$O run --bundle /tmp/b/code r2 >/tmp/r2.out 2>&1
echo "L1OCI run-code rc=$? $(grep -o 'exitcode guest: exiting' /tmp/r2.out | head -1)"
$O run --bundle /tmp/b/ann r3 >/dev/null 2>&1
echo "L1OCI run-annotations rc=$?"

# create → created (no guest instruction yet), start → running, kill TERM → stopped.
$O create --bundle /tmp/b/hang --pid-file /tmp/c1.pid c1 >/tmp/c1.out 2>&1
echo "L1OCI create rc=$? state=$(state c1) pid-file=$([ -s /tmp/c1.pid ] && echo yes)"
$O start c1
for i in 1 2 3 4 5 6 7 8 9 10; do grep -q 'waiting forever' /tmp/c1.out && break; sleep 0.5; done
echo "L1OCI start state=$(state c1) console=$(grep -c 'hang guest: waiting forever' /tmp/c1.out)"
grep -q Seccomp:.*2 "/proc/$(cat /tmp/c1.pid)/status" && echo "L1OCI instance seccomp=filter"
$O kill c1 TERM
for i in 1 2 3 4 5 6 7 8 9 10; do [ "$(state c1)" = stopped ] && break; sleep 0.5; done
echo "L1OCI kill-term state=$(state c1)"
$O delete c1 && echo "L1OCI delete rc=0 left=$(ls /tmp/ocir | wc -l)"
# A created container (built, the guest never ran) stopped by TERM before start.
$O create --bundle /tmp/b/hang c2 >/dev/null 2>&1
$O kill c2 TERM
for i in 1 2 3 4 5 6 7 8 9 10; do [ "$(state c2)" = stopped ] && break; sleep 0.5; done
echo "L1OCI created-term state=$(state c2)"
$O delete c2

# process.terminal: the pty master goes to --console-socket (SCM_RIGHTS), the guest prints on
# the slave. L1 mounts no devpts: mount one.
[ -e /dev/pts/ptmx ] || { mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts; }
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mkdir -p /tmp/b/tty/rootfs && cp /guests/hello.elf /tmp/b/tty/rootfs/
printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"terminal":true,"cwd":"/","args":["/hello.elf"]}}\n' >/tmp/b/tty/config.json
/bin/consock /tmp/cs.sock >/tmp/cs.out 2>&1 &
cp=$!
for i in $(seq 50); do [ -S /tmp/cs.sock ] && break; sleep 0.1; done
$O create --bundle /tmp/b/tty --console-socket /tmp/cs.sock t1 >/tmp/t1.err 2>&1 && $O start t1
for i in $(seq 40); do [ "$(state t1)" = stopped ] && break; sleep 0.25; done
$O delete t1
wait $cp
echo "L1OCI tty rc=$? pty=$(grep -c '^pty /dev/pts/' /tmp/cs.out) hello=$(grep -c 'Hello from fastvmm guest' /tmp/cs.out) $(cat /tmp/t1.err)"

# cgroup v2 (L1 mounts none: mount one): linux.cgroupsPath created with the controllers
# delegated down to it, the limit = the spec's memory limit + 32 MiB of VMM overhead, the VM
# process inside it, the leaf removed by delete.
[ -f /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
bundle /tmp/b/cg '["/hang.elf"]' hang.elf '"linux":{"cgroupsPath":"/fvtest/c1","resources":{"memory":{"limit":67108864},"pids":{"limit":64}}}'
$O create --bundle /tmp/b/cg --pid-file /tmp/cg.pid g1 >/tmp/cg.out 2>&1
echo "L1OCI cgroup2 create rc=$? memory.max=$(cat /sys/fs/cgroup/fvtest/c1/memory.max 2>&1) pids.max=$(cat /sys/fs/cgroup/fvtest/c1/pids.max 2>&1) member=$(grep -qx "$(cat /tmp/cg.pid)" /sys/fs/cgroup/fvtest/c1/cgroup.procs && echo yes)"
$O delete --force g1
echo "L1OCI cgroup2 removed=$([ -e /sys/fs/cgroup/fvtest/c1 ] && echo no || echo yes)"
rmdir /sys/fs/cgroup/fvtest 2>/dev/null

# Foreground run stopped by SIGTERM (forwarded to the VM process): clean stop, 128+15.
$O run --bundle /tmp/b/hang r4 >/tmp/r4.out 2>&1 &
p=$!
for i in 1 2 3 4 5 6 7 8 9 10; do grep -q 'waiting forever' /tmp/r4.out && break; sleep 0.5; done
kill -TERM $p
wait $p
echo "L1OCI run-term rc=$?"

# The VM process is confined like every other mode's: a denied call is reported, 159.
FASTVMM_TEST_DENIED_SYSCALL=vmm $O run --bundle /tmp/b/hello r5 >/tmp/r5.out 2>&1
echo "L1OCI sandbox-vmm rc=$? $(grep -o 'sandbox: vmm thread made a denied system call: socket' /tmp/r5.out)"
echo "L1OCI root-left=$(ls /tmp/ocir | wc -l)"
echo "L1OCI sanitizer-reports=$(cat /tmp/r*.out /tmp/c1.out | grep -c -e AddressSanitizer -e 'runtime error')"

# The runtime's cost over the CLI, same guest, same L1 (TCG-emulated: only the ratio and the
# difference mean something): 10 launches each, wall time from /proc/uptime.
[ "${OCI_L1_BENCH:-0}" = 1 ] || exit 0
up() { cut -d' ' -f1 /proc/uptime; }
t0=$(up)
for i in 1 2 3 4 5 6 7 8 9 10; do /bin/fastvmm --kernel /guests/hello.elf >/dev/null 2>&1; done
t1=$(up)
for i in 1 2 3 4 5 6 7 8 9 10; do $O run --bundle /tmp/b/hello "b$i" >/dev/null 2>&1; done
t2=$(up)
echo "L1OCI bench cli_ms=$(awk "BEGIN{print ($t1-$t0)*100}") oci_run_ms=$(awk "BEGIN{print ($t2-$t1)*100}") (per launch, mean of 10)"

#!/bin/sh
# tests/nested/sandbox-check.sh — the sandbox inside L1 (installed as /bin/sandbox-check by
# prepare.d/sandbox.sh; busybox sh), for hosts without /dev/kvm where tests/boot/t_sandbox.sh
# skips: a running VM (2 vCPUs, a disk: main, vCPU, I/O and watchdog threads) has a filter,
# NO_NEW_PRIVS and no capability on every thread; a denied call on each role's thread is one
# line naming it and status 159. One line per fact, matched by the own-sandbox scenario.
img=/tmp/sandbox.img
dd if=/dev/zero of=$img bs=1M count=1 2>/dev/null
/bin/fastvmm --kernel /guests/hang.elf --cpus 2 --disk $img --timeout 60 >/tmp/sb.out 2>/tmp/sb.err &
pid=$!
for i in $(seq 200); do
	grep -q 'waiting forever' /tmp/sb.out && break
	sleep 0.1
done
echo "threads: $(ls /proc/$pid/task | wc -l)"
for f in Seccomp NoNewPrivs CapEff CapBnd; do
	echo "$f: $(cat /proc/$pid/task/*/status | grep "^$f:" | awk '{print $2}' | sort -u | tr '\n' ' ')"
done
kill -TERM $pid
wait $pid
for role in vmm vcpu io; do
	FASTVMM_TEST_DENIED_SYSCALL=$role /bin/fastvmm --kernel /guests/hang.elf --cpus 2 \
		--disk $img --timeout 60 >/dev/null 2>/tmp/d.err
	echo "denied $role: status $?"
	cat /tmp/d.err
done

#!/bin/sh
# tests/nested/serve-snap.sh — PUT /vms/{id}/snapshot inside L1 (busybox sh), run by the
# serve-snapshot-running scenario (installed as /bin/serve-snap by prepare.d/serve.sh). A
# daemon VM counting slowly is snapshotted while it runs, twice (the second stops it); the
# first snapshot is restored as a clone (stopped by its timeout), which must carry on from the
# saved count, not start again. Then the refusals: a name taken, a bad name, no such VM, an exited VM, a cow disk,
# and a daemon without --snapshot-root. One line per fact; the scenario matches them.
S=/tmp/snap.sock R=/tmp/snaproot
mkdir -p $R
/bin/fastvmm serve --socket $S --snapshot-root $R -v 2>/tmp/snap-serve.log &
D=$!
for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
# every answer here is prompt: a reply held back (an immediate error on a request that may
# wait used to sit until the next event) shows as a missing line
u() { timeout 20 /bin/uclient $S "$@"; }
u PUT /templates/cnt '{"kernel": "/guests/count.elf", "mem": "32M", "cmdline": "to=1000000 snap=0 delay=20000"}' | head -1 | sed 's/^/template: /'
u POST /vms '{"template": "cnt", "wait": "running"}' >/tmp/v1
id=$(grep -o '"id":[0-9]*' /tmp/v1 | head -1 | cut -d: -f2)
for i in $(seq 300); do
	u GET /vms/$id/console | grep -q '^count=10$' && break
	sleep 0.1
done
# The saved count lies between the last count the origin's console shows before the order
# (lo) and the last it shows a second after the answer (hi): the console reaches the daemon
# a little after the guest prints it, so the count read at the answer itself may lag the one
# saved. The clone resumes inside that window, never from the start.
lo=$(u GET /vms/$id/console | grep '^count=' | tail -1 | cut -d= -f2)
u PUT /vms/$id/snapshot '{"name": "s1"}' >/tmp/p1
head -1 /tmp/p1 | sed 's/^/snapshot s1: /'
grep -o '"message":"snapshot saved to [^"]*' /tmp/p1 | sed 's/"message":"/s1 message: /'
sleep 1
last=$(u GET /vms/$id/console | grep '^count=' | tail -1 | cut -d= -f2)
echo "origin at count $lo before s1, $last a second after"
ls -a $R | tr '\n' ' ' | sed 's/^/root holds: /'; echo
echo "s1 modes: $(stat -c %a $R/s1 $R/s1/state $R/s1/memory | tr '\n' ' ')"
u GET /vms/$id | grep -o '"snapshot":{[^}]*}' | sed 's/^/vm record: /'
u PUT /vms/$id/snapshot '{"name": "s1"}' | head -1 | sed 's/^/again s1: /'
u PUT /vms/$id/snapshot '{"name": "../etc"}' | head -1 | sed 's/^/bad name: /'
u PUT /vms/999/snapshot '{"name": "s9"}' | head -1 | sed 's/^/no vm: /'
u PUT /vms/$id/snapshot '{"name": "s2", "stop": true}' | head -1 | sed 's/^/snapshot s2 stop: /'
for i in $(seq 100); do
	u GET /vms/$id >/tmp/g
	grep -q '"state":"exited"' /tmp/g && break
	sleep 0.1
done
grep -o '"outcome":"[a-z]*"' /tmp/g | sed 's/^/origin after s2: /'
timeout 5 /bin/uclient $S PUT /vms/$id/snapshot '{"name": "s3"}' | head -1 | sed 's/^/exited vm: /'
# the clone: a template from s1, one VM run to its end
u PUT /templates/c1 "{\"snapshot\": \"$R/s1\"}" | head -1 | sed 's/^/clone template: /'
u POST /vms '{"template": "c1", "wait": "exit", "timeout_ms": 3000}' >/tmp/c1
grep -o '"outcome":"[a-z]*"' /tmp/c1 | sed 's/^/clone: /'
cid=$(grep -o '"id":[0-9]*' /tmp/c1 | head -1 | cut -d: -f2)
# complete lines only: the timeout may cut the clone's last line ("count=4" of count=42)
u GET /vms/$cid/console | awk 'NR > 1 { print p } { p = $0 }' >/tmp/cc
first=$(grep '^count=' /tmp/cc | head -1 | cut -d= -f2)
cl=$(grep '^count=' /tmp/cc | tail -1 | cut -d= -f2)
echo "clone first count $first, last $cl"
if [ -n "$first" ] && [ "$first" -gt "${lo:-999999}" ] && [ "$first" -le "$((last + 1))" ] && [ "$cl" -gt "$first" ]; then
	echo "clone resumed after the saved count"
else
	echo "clone BAD: first=$first origin=$lo..$last"
fi
# a cow disk cannot be kept in a snapshot: 409, and the VM runs on
truncate -s 1M /tmp/snap-d.img
u PUT /templates/cow '{"kernel": "/guests/count.elf", "mem": "32M", "cmdline": "to=1000000 snap=0 delay=20000", "disks": [{"path": "/tmp/snap-d.img", "cow": true}]}' >/dev/null
u POST /vms '{"template": "cow", "wait": "running"}' >/tmp/v2
id2=$(grep -o '"id":[0-9]*' /tmp/v2 | head -1 | cut -d: -f2)
u PUT /vms/$id2/snapshot '{"name": "s4"}' >/tmp/p4
head -1 /tmp/p4 | sed 's/^/cow disk: /'
grep -o 'a cow overlay cannot be kept' /tmp/p4
u GET /vms/$id2 | grep -o '"state":"[a-z]*"' | head -1 | sed 's/^/cow vm after: /'
u DELETE /vms/$id2 >/dev/null
ls -a $R | tr '\n' ' ' | sed 's/^/root after: /'; echo
# a snapshot whose NIC's tap is named per VM cannot back a warm pool (400), but a pool-less
# template is fine
insmod /fv/tun.ko 2>/dev/null
/bin/fastvmm --kernel /guests/count.elf --net tap=fvs%u --cmdline "to=8 snap=5" --snapshot /tmp/snet --snapshot-at exit-port --snapshot-then stop -q >/dev/null 2>&1 && echo "net snapshot taken"
u PUT /templates/np '{"snapshot": "/tmp/snet", "pool": 1}' >/tmp/np
head -1 /tmp/np | sed 's/^/net pool: /'
grep -o "tap 'fvs%u' is named per VM at restore.*no pool" /tmp/np
u PUT /templates/np '{"snapshot": "/tmp/snet"}' | head -1 | sed 's/^/net no pool: /'
u GET /metrics | grep '^fastvmm_snapshots_total'
kill -TERM $D
wait $D
echo "daemon exit=$?"
# without --snapshot-root the order is refused
/bin/fastvmm serve --socket $S.2 2>/dev/null &
D2=$!
for i in $(seq 100); do [ -S $S.2 ] && break; sleep 0.1; done
/bin/uclient $S.2 PUT /vms/1/snapshot '{"name": "x"}' | head -1 | sed 's/^/no root: /'
kill -TERM $D2
wait $D2
cat /tmp/snap-serve.log

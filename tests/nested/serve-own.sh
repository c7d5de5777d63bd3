#!/bin/sh
# tests/nested/serve-own.sh — `fastvmm serve` inside L1 with the project's own guests, run by
# the own-serve scenario (installed as /bin/serve-own by prepare.d/serve.sh; busybox sh). It
# prints one line per fact and the scenario's checks match them: a warm pool of 2 under a
# burst of 6 concurrent requests (each VM exits with its own status), a cold template, a
# console read back, a malformed request, a DELETE of a running VM, the metrics, and SIGTERM.
S=/tmp/own.sock
/bin/fastvmm serve --socket $S 2>/tmp/own-serve.log &
D=$!
for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
u() { /bin/uclient $S "$@"; }
u PUT /templates/ec '{"kernel": "/guests/exitcode.elf", "mem": "16M", "pool": 2}' | head -1
for i in $(seq 150); do
	u GET /templates/ec >/tmp/t
	grep -q '"ready":2' /tmp/t && break
	sleep 0.2
done
echo "pool $(grep -o '"ready":[0-9]*' /tmp/t | head -1)"
pids=
for k in 1 2 3 4 5 6; do
	u POST /vms "{\"template\": \"ec\", \"cmdline_append\": \"exit=$k\", \"wait\": \"exit\"}" >/tmp/r$k &
	pids="$pids $!"
done
wait $pids
for k in 1 2 3 4 5 6; do
	if grep -q "\"exit_status\":$k," /tmp/r$k; then echo "burst exit=$k ok"; else echo "burst exit=$k BAD: $(cat /tmp/r$k)"; fi
done
echo "burst warm=$(grep -l '"pooled":true' /tmp/r? | wc -l) total=$(grep -l 'HTTP/1.1 201' /tmp/r? | wc -l)"
u PUT /templates/cold '{"kernel": "/guests/exitcode.elf", "mem": "16M"}' >/dev/null
u POST /vms '{"template": "cold", "cmdline_append": "exit=42", "wait": "exit"}' >/tmp/c
grep -q '"pooled":false' /tmp/c && grep -q '"exit_status":42,' /tmp/c && echo "cold exit=42 ok"
id=$(grep -o '"id":[0-9]*' /tmp/c | head -1 | cut -d: -f2)
u GET /vms/$id/console | grep -q '^exitcode guest: exiting' && echo "console of vm $id ok"
u POST /vms '{"template": "ec", "wait": ' | head -1 | sed 's/^/malformed: /'
u PUT /templates/hang '{"kernel": "/guests/hang.elf", "mem": "16M"}' >/dev/null
u POST /vms '{"template": "hang", "wait": "running"}' >/tmp/h
hid=$(grep -o '"id":[0-9]*' /tmp/h | head -1 | cut -d: -f2)
# "wait": "running" answers once the VM has entered KVM_RUN; by the time the reply is made
# its first console line may already have made it "ready".
if grep -qE '"state":"(running|ready)"' /tmp/h; then echo "hang vm $hid running"; else echo "hang vm BAD: $(cat /tmp/h)"; fi
u DELETE /vms/$hid | head -1 | sed 's/^/delete: /'
u GET /metrics >/tmp/m
grep '^fastvmm_launches_total' /tmp/m
kill -TERM $D
wait $D
echo "daemon exit=$?"
[ -S $S ] || echo "socket removed"
pidof fastvmm >/dev/null || echo "no fastvmm process left"
cat /tmp/own-serve.log

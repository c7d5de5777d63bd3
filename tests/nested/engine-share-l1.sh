# tests/nested/engine-share-l1.sh — sourced by the engines' L1 scripts (installed as
# /bin/engine-share.sh by prepare.d/oci.sh; busybox sh): the engine's share of a launch.
# engine_share PREFIX NAME FN: 5 CLI launches of the hello guest, 5 `fastvmm oci run` of it
# and 5 calls of FN (the caller's function running it through its engine, given the
# iteration 1..5), timed with /proc/uptime in this L1 (TCG-emulated: compare, do not read the
# absolute times); prints "PREFIX bench per launch (mean of 5): cli_ms=… oci_run_ms=…
# NAME_ms=…".
engine_share() {
	mkdir -p /tmp/esb/rootfs && cp /guests/hello.elf /tmp/esb/rootfs/
	echo '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/hello.elf"]}}' >/tmp/esb/config.json
	es_t0=$(cut -d' ' -f1 /proc/uptime)
	for i in 1 2 3 4 5; do /bin/fastvmm --kernel /guests/hello.elf >/dev/null 2>&1; done
	es_t1=$(cut -d' ' -f1 /proc/uptime)
	for i in 1 2 3 4 5; do /bin/fastvmm oci --root /tmp/esr run --bundle /tmp/esb "o$i" >/dev/null 2>&1; done
	es_t2=$(cut -d' ' -f1 /proc/uptime)
	for i in 1 2 3 4 5; do "$3" "$i" >/dev/null 2>&1; done
	es_t3=$(cut -d' ' -f1 /proc/uptime)
	echo "$1 bench per launch (mean of 5): cli_ms=$(awk "BEGIN{print ($es_t1-$es_t0)*200}") oci_run_ms=$(awk "BEGIN{print ($es_t2-$es_t1)*200}") $2_ms=$(awk "BEGIN{print ($es_t3-$es_t2)*200}")"
}

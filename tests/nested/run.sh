#!/usr/bin/env bash
# tests/nested/run.sh — the nested-KVM harness: boots Debian's kernel as L1 under QEMU TCG
# with emulated AMD SVM, loads KVM there, and runs fastvmm scenarios (tests/nested/scenarios)
# that boot real L2 guests. See tests/nested/README.md.
#
# Run from anywhere (normally `make test-nested` from the repo root). Needs root on a machine
# that lacks the packages (it installs them with apt-get).
# Exit status: 0 all scenarios passed; 1 a scenario failed or is missing, or QEMU timed out;
# 2 the harness could not be set up (missing build/fastvmm, a package, a download...).
#
# Environment knobs:
#   NESTED_TIMEOUT=900     bound on all QEMU runs together (seconds)
#   NESTED_ONLY=REGEX      run only the scenarios whose name matches (grep -E)
#   NESTED_KEEP=1          keep build/nested/work (staging trees, initramfs images)
#   NESTED_VERBOSE=1       print every scenario's output, not only the failures'
#   NESTED_SMP=1           L1 vCPUs (QEMU -smp; 2 is no faster and less reliable, see README)
#   NESTED_ACCEL=tcg       QEMU -accel for L1 (e.g. tcg,thread=single)
#   NESTED_SCENARIOS=FILE  scenario file (default tests/nested/scenarios)
#   NESTED_FASTVMM=FILE    fastvmm binary (default build/fastvmm)
#   NESTED_GUESTS=DIR      own guests (default build/guests)
#   NESTED_KERNEL_PKG=PKG  kernel metapackage (default linux-image-cloud-amd64)
#   NESTED_EXTRA_DIR=DIR   copied into the L1 root as it is (disk images, tools...)
#   NESTED_L2_MODULES="a b"  more modules (with their dependencies) for the L2 initramfs
#   NESTED_STALL_RETRY=1   rerun once (in a fresh L1) a scenario during which L1 froze; 0: fail it
#   NESTED_PREPARE_ONLY=1  fetch and extract the kernel, print "nested-kernel: VMLINUZ VMLINUX", stop
#   NESTED_L1_COMPRESS=none|gzip   L1 initramfs compression (default none: fastest here)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/nested
OUT=$ROOT/build/nested
CACHE=$OUT/cache
WORK=$OUT/work
FASTVMM=${NESTED_FASTVMM:-$ROOT/build/fastvmm}
GUESTS=${NESTED_GUESTS:-$ROOT/build/guests}
SCENARIOS=${NESTED_SCENARIOS:-$HERE/scenarios}
TOTAL_TIMEOUT=${NESTED_TIMEOUT:-900}
ONLY=${NESTED_ONLY:-}
KEEP=${NESTED_KEEP:-0}
VERBOSE=${NESTED_VERBOSE:-0}
SMP=${NESTED_SMP:-1}
ACCEL=${NESTED_ACCEL:-tcg}
KPKG=${NESTED_KERNEL_PKG:-linux-image-cloud-amd64}
EXTRA_DIR=${NESTED_EXTRA_DIR:-}
L1_COMPRESS=${NESTED_L1_COMPRESS:-none}
L1_MEM=2048
BOOT_LIMIT=120   # seconds from QEMU start to L1's "kvm ready" before the host gives up
STALL_RETRY=${NESTED_STALL_RETRY:-1}  # 1: a scenario during which L1 froze runs once more
declare -A STALLED=()
STALL_GRACE=30   # seconds past a scenario's own timeout before the host declares L1 stalled
IDLE_WINDOW=${NESTED_IDLE_WINDOW:-10} # seconds of QEMU CPU time sampled to spot a frozen L1
IDLE_MS=${NESTED_IDLE_MS:-20}         # ...less QEMU CPU than this (ms) in a window: L1 froze
                                      # (an idle but working L1 used 50 ms in 10 s here)
FREEZES=0 FREEZES_RECOVERED=0 STARVED=0
TAIL_LINES=80    # lines of a failed scenario's output shown on the terminal

L2_MODULES=(virtio virtio_ring virtio_mmio virtio_blk virtio_net button evdev)
L1_MODULES=(irqbypass kvm kvm_amd)

export LC_ALL=C DEBIAN_FRONTEND=noninteractive

log() { printf 'nested: %s\n' "$*"; }
warn() { printf 'nested: warning: %s\n' "$*" >&2; }
die() {
	printf 'nested: error: %s\n' "$*" >&2
	exit 2
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

QPID=""
PHASES=""
MON=""
KICK_FD=""
CLK_TCK=$(getconf CLK_TCK)
cleanup() {
	if [[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null || true
		wait "$QPID" 2>/dev/null || true
	fi
	if [[ $KEEP != 1 ]]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------
APT_UPDATED=0
apt_update() {
	[[ $APT_UPDATED == 1 ]] && return 0
	APT_UPDATED=1
	log "apt-get update"
	apt-get update -qq >/dev/null || warn "apt-get update failed"
}
apt_lists_empty() { ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
apt_install() {
	[[ $(id -u) == 0 ]] || die "missing packages: $*; install them (needs root): apt-get install $*"
	log "installing $*"
	apt_lists_empty && apt_update
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
		{ apt_update && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } ||
		die "apt-get install $* failed"
}
# static_busybox: prints the path of a statically linked busybox, or nothing
static_busybox() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [[ -x $b ]] && ! readelf -lW "$b" 2>/dev/null | grep -q 'Requesting program interpreter'; then
			echo "$b"
			return 0
		fi
	done
}
ensure_packages() {
	local need=()
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	command -v cpio >/dev/null || need+=(cpio)
	command -v readelf >/dev/null || need+=(binutils)
	command -v gzip >/dev/null || need+=(gzip)
	((${#need[@]} == 0)) || apt_install "${need[@]}"
	# readelf (binutils) tells a static busybox from a dynamic one, so this comes second
	[[ -n $(static_busybox) ]] || apt_install busybox-static
	BUSYBOX=$(static_busybox)
	[[ -n $BUSYBOX ]] || die "no statically linked busybox after installing busybox-static"
}

# ---------------------------------------------------------------------------------------
# Kernel package: download (cached), extract, find the modules
# ---------------------------------------------------------------------------------------
# resolve_kernel META: sets KNAME and KVERSION to the versioned image package behind META
resolve_kernel() {
	local meta=$1 dep
	KNAME="" KVERSION=""
	apt_lists_empty && [[ $(id -u) == 0 ]] && apt_update
	dep=$(apt-cache show --no-all-versions "$meta" 2>/dev/null | sed -n '/^Depends:/{s/^Depends: *//p;q}' || true)
	if [[ -z $dep && $(id -u) == 0 && $APT_UPDATED == 0 ]]; then
		apt_update
		dep=$(apt-cache show --no-all-versions "$meta" 2>/dev/null | sed -n '/^Depends:/{s/^Depends: *//p;q}' || true)
	fi
	# "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"
	if [[ $dep =~ (linux-image-[^ ,\(]+)\ *\(=\ *([^\)]+)\) ]]; then
		KNAME=${BASH_REMATCH[1]} KVERSION=${BASH_REMATCH[2]}
	elif [[ $dep =~ (linux-image-[^ ,\(]+) ]]; then
		KNAME=${BASH_REMATCH[1]}
		KVERSION=$(apt-cache show --no-all-versions "$KNAME" 2>/dev/null | sed -n '/^Version:/{s/^Version: *//p;q}' || true)
	fi
}

# fetch_kernel META: sets KDEB (the cached .deb) and KDIR (its extracted tree)
fetch_kernel() {
	local meta=$1 flavour deb tmp
	flavour=${meta#linux-image-}
	resolve_kernel "$meta"
	mkdir -p "$CACHE"
	if [[ -n $KNAME && -n $KVERSION ]]; then
		deb=$CACHE/${KNAME}_${KVERSION//:/%3a}_amd64.deb
		if [[ -s $deb ]] && dpkg-deb --info "$deb" >/dev/null 2>&1; then
			log "kernel package: $(basename "$deb") (cached)"
		else
			log "kernel package: downloading $KNAME=$KVERSION"
			tmp=$CACHE/download.tmp
			rm -rf "$tmp"
			mkdir -p "$tmp"
			(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$KNAME=$KVERSION" >/dev/null) ||
				{ apt_update && (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$KNAME=$KVERSION" >/dev/null); } ||
				die "apt-get download $KNAME=$KVERSION failed"
			mv "$tmp"/*.deb "$deb"
			rm -rf "$tmp"
		fi
	else
		# No package lists (and no root to fetch them): fall back to the newest cached one.
		deb=$(find "$CACHE" -maxdepth 1 -name "linux-image-*-${flavour}_*.deb" | sort -V | tail -n 1)
		[[ -n $deb ]] || die "cannot resolve $meta (apt-cache show gave nothing) and nothing is cached in $CACHE"
		log "kernel package: $(basename "$deb") (cached; $meta not resolvable)"
	fi
	KDEB=$deb
	KDIR=${deb%.deb}
	if [[ ! -d $KDIR/lib/modules ]]; then
		rm -rf "$KDIR.tmp"
		dpkg-deb -x "$deb" "$KDIR.tmp" || die "dpkg-deb -x $deb failed"
		rm -rf "$KDIR"
		mv "$KDIR.tmp" "$KDIR"
	fi
}

# index_modules: MODS[name]=path for every module of $KREL (names with '_', not '-')
declare -A MODS=()
declare -A BUILTIN=()
index_modules() {
	local f b moddir=$KDIR/lib/modules/$KREL
	MODS=()
	BUILTIN=()
	while IFS= read -r -d '' f; do
		b=${f##*/}
		b=${b%%.ko*}
		MODS[${b//-/_}]=$f
	done < <(find "$moddir" -name '*.ko*' -print0)
	if [[ -r $moddir/modules.builtin ]]; then
		while IFS= read -r f; do
			b=${f##*/}
			b=${b%%.ko*}
			BUILTIN[${b//-/_}]=1
		done <"$moddir/modules.builtin"
	fi
}
mod_cat() {
	case $1 in
	*.ko.xz) xz -dc "$1" ;;
	*.ko.zst) zstd -qdc "$1" ;;
	*.ko.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}
# The package has no modules.dep (depmod runs at install time); .modinfo has "depends=".
mod_deps() { mod_cat "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '; }
# mod_order NAME...: sets ORDER to NAMEs and their dependencies, dependencies first.
# A name that is neither a module nor built in is left out and reported in MISSING.
ORDER=() MISSING=()
declare -A SEEN=()
mod_visit() {
	local n=${1//-/_} d
	[[ -n ${SEEN[$n]:-} ]] && return 0
	SEEN[$n]=1
	if [[ -z ${MODS[$n]:-} ]]; then
		[[ -n ${BUILTIN[$n]:-} ]] || MISSING+=("$n")
		return 0
	fi
	for d in $(mod_deps "${MODS[$n]}"); do
		mod_visit "$d"
	done
	ORDER+=("$n")
}
mod_order() {
	ORDER=() MISSING=()
	SEEN=()
	local n
	for n in "$@"; do mod_visit "$n"; done
}
# mod_install DIR NAME...: copies the modules (uncompressed) into DIR/lib/modules/NAME.ko
# and writes DIR/lib/modules/load.list in load order
mod_install() {
	local dir=$1/lib/modules n
	shift
	mkdir -p "$dir"
	: >"$dir/load.list"
	for n in "$@"; do
		mod_cat "${MODS[$n]}" >"$dir/$n.ko"
		echo "$n" >>"$dir/load.list"
	done
}

# ---------------------------------------------------------------------------------------
# vmlinux from bzImage (what the kernel's scripts/extract-vmlinux does)
# ---------------------------------------------------------------------------------------
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n'; }
u32() { od -An -tu4 --endian=little -j "$2" -N4 "$1" | tr -d ' \n'; }
hexat() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
is_elf() { [[ -s $1 && $(hexat "$1" 0 4) == 7f454c46 ]]; }

# format_of HEX: compression format whose magic starts HEX
format_of() {
	case $1 in
	1f8b08*) echo gzip ;;
	fd377a585a00*) echo xz ;;
	425a68*) echo bzip2 ;;
	5d0000*) echo lzma ;;
	894c5a4f*) echo lzo ;;
	02214c18*) echo lz4 ;;
	28b52ffd*) echo zstd ;;
	*) echo unknown ;;
	esac
}
ensure_decompressor() {
	case $1 in
	gzip) command -v gzip >/dev/null || apt_install gzip ;;
	xz | lzma) command -v xz >/dev/null || apt_install xz-utils ;;
	bzip2) command -v bzip2 >/dev/null || apt_install bzip2 ;;
	lzo) command -v lzop >/dev/null || apt_install lzop ;;
	lz4) command -v lz4 >/dev/null || apt_install lz4 ;;
	zstd) command -v zstd >/dev/null || apt_install zstd ;;
	esac
}
decompress() {
	case $1 in
	gzip) gzip -dc ;;
	xz) xz -dc ;;
	lzma) xz --format=lzma -dc ;;
	bzip2) bzip2 -dc ;;
	lzo) lzop -dc ;;
	lz4) lz4 -dc ;;
	zstd) zstd -qdc ;;
	*) return 1 ;;
	esac
}
# try_payload IMAGE OFFSET LENGTH|"" OUT: decompresses from OFFSET; true if OUT is an ELF.
# Decompressors may complain about the kernel's trailing size word: only the result counts.
try_payload() {
	local img=$1 off=$2 len=$3 out=$4 fmt
	fmt=$(format_of "$(hexat "$img" "$off" 6)")
	[[ $fmt != unknown ]] || return 1
	ensure_decompressor "$fmt"
	if [[ -n $len ]]; then
		tail -c +$((off + 1)) "$img" | head -c "$len" | decompress "$fmt" >"$out" 2>/dev/null || true
	else
		tail -c +$((off + 1)) "$img" | decompress "$fmt" >"$out" 2>/dev/null || true
	fi
	is_elf "$out" && VMLINUX_FORMAT=$fmt
}
extract_vmlinux() {
	local img=$1 out=$2 setup off len magic o
	VMLINUX_FORMAT=""
	if [[ $(hexat "$img" $((0x202)) 4) == 48647253 ]]; then # "HdrS"
		setup=$(u8 "$img" $((0x1f1)))
		((setup == 0)) && setup=4
		off=$(($(u32 "$img" $((0x248))) + (setup + 1) * 512))
		len=$(u32 "$img" $((0x24c)))
		if ((len > 0)) && try_payload "$img" "$off" "$len" "$out"; then
			return 0
		fi
	fi
	# Fallback: every offset where a known magic appears, like scripts/extract-vmlinux.
	for magic in '\x1f\x8b\x08' '\xfd\x37\x7a\x58\x5a\x00' '\x02\x21\x4c\x18' '\x28\xb5\x2f\xfd' \
		'\x42\x5a\x68' '\x5d\x00\x00' '\x89\x4c\x5a\x4f'; do
		while read -r o; do
			try_payload "$img" "$o" "" "$out" && return 0
		done < <(grep -obUaP "$magic" "$img" 2>/dev/null | cut -d: -f1 | head -n 20)
	done
	rm -f "$out"
	return 1
}
# pvh_entry ELF: prints the XEN_ELFNOTE_PHYS32_ENTRY (type 18) address, or nothing
pvh_entry() {
	readelf -nW "$1" 2>/dev/null | awk '
		function addr(line,   n, b, i, v) { sub(/.*description data: */, "", line)
			n = split(line, b, " "); v = ""; for (i = n; i >= 1; i--) v = v b[i]
			sub(/^0+/, "", v); print "0x" v; done = 1 }
		$1 == "Xen" && (/\(0x00000012\)/ || /PHYS32_ENTRY/) { found = 1 }
		found && !done && /description data:/ { addr($0) }'
}

# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------
S_NAME=() S_RC=() S_TMO=() S_CMD=() S_CHECKS=() S_FASTVMM=()
# shellcheck disable=SC2016 # a sed bracket expression, not shell
regex_escape() { printf '%s' "$1" | sed 's/[][\.*^$(){}?+|\\]/\\&/g'; }
# subst TEXT ESCAPE: replaces @NAME@ with the defined values (regex-escaped if ESCAPE=1)
declare -A VARS=()
subst() {
	local s=$1 k v
	for k in "${!VARS[@]}"; do
		v=${VARS[$k]}
		[[ $2 == 1 ]] && v=$(regex_escape "$v")
		s=${s//@"$k"@/$v}
	done
	[[ $s != *@[A-Z0-9_]*@* ]] || die "$SCENARIOS: undefined @NAME@ in: $1"
	printf '%s' "$s"
}
# mem_kb COMMAND: guest RAM in KiB from --mem (fastvmm's default 128M; plain numbers MiB)
mem_kb() {
	local re='--mem[= ]+([0-9]+)([KkMmGg]?)' n
	if [[ $1 =~ $re ]]; then
		n=${BASH_REMATCH[1]}
		case ${BASH_REMATCH[2]} in
		K | k) echo "$n" ;;
		M | m | "") echo $((n * 1024)) ;; # fastvmm: a plain number is MiB
		G | g) echo $((n * 1024 * 1024)) ;;
		esac
	else
		echo $((128 * 1024))
	fi
}
bound() { # bound VALUE MEMKB
	if [[ $1 =~ ^([0-9]+)%mem$ ]]; then
		echo $((BASH_REMATCH[1] * $2 / 100))
	elif [[ $1 =~ ^[0-9]+$ ]]; then
		echo "$1"
	else
		return 1
	fi
}
parse_scenarios() {
	local line lineno=0 rest f name rcf rc tmo cmd checks c memkb pfx lo hi k req keep
	local -a fields
	declare -A names=()
	[[ -r $SCENARIOS ]] || die "no scenario file $SCENARIOS"
	while IFS= read -r line || [[ -n $line ]]; do
		lineno=$((lineno + 1))
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[[ -z $line || $line == \#* ]] && continue
		if [[ $line =~ ^define[[:space:]]+([A-Z0-9_]+)[[:space:]]+(.*)$ ]]; then
			VARS[${BASH_REMATCH[1]}]=$(subst "${BASH_REMATCH[2]}" 0) # earlier defines expand
			continue
		fi
		fields=()
		rest=$line
		while [[ $rest == *' | '* ]]; do
			fields+=("${rest%% | *}")
			rest=${rest#* | }
		done
		fields+=("$rest")
		((${#fields[@]} >= 3)) || die "$SCENARIOS:$lineno: want 'name | status | command | checks...'"
		name=${fields[0]}
		[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "$SCENARIOS:$lineno: bad name '$name'"
		[[ -z ${names[$name]:-} ]] || die "$SCENARIOS:$lineno: duplicate scenario '$name'"
		names[$name]=1
		rcf=${fields[1]} tmo=60 req="" keep=0
		[[ $rcf =~ ^([0-9]+)([[:space:]]+timeout=([0-9]+))?([[:space:]]+requires=([^[:space:]]+))?([[:space:]]+keep)?$ ]] ||
			die "$SCENARIOS:$lineno: bad status field '$rcf' (want 'N [timeout=SECS] [requires=FILE[,FILE]] [keep]')"
		rc=${BASH_REMATCH[1]}
		[[ -n ${BASH_REMATCH[3]} ]] && tmo=${BASH_REMATCH[3]}
		[[ -n ${BASH_REMATCH[5]} ]] && req=${BASH_REMATCH[5]//,/ }
		[[ -n ${BASH_REMATCH[6]} ]] && keep=1
		[[ -n $ONLY ]] && ! grep -Eq -- "$ONLY" <<<"$name" && continue
		cmd=$(subst "${fields[2]}" 0)
		if [[ $cmd == sh:* ]]; then
			S_FASTVMM+=(0)
			cmd=${cmd#sh:}
			cmd=${cmd# }
		else
			S_FASTVMM+=(1)
			cmd="/bin/fastvmm $cmd"
		fi
		memkb=$(mem_kb "$cmd")
		checks=""
		for ((k = 3; k < ${#fields[@]}; k++)); do
			c=${fields[k]}
			if [[ $c == num:* ]]; then
				c=${c#num:}
				hi=${c##*:} c=${c%:*}
				lo=${c##*:} pfx=${c%:*}
				[[ $pfx != "$c" ]] || die "$SCENARIOS:$lineno: want num:PREFIX:MIN:MAX, got '${fields[k]}'"
				if ! lo=$(bound "$lo" "$memkb") || ! hi=$(bound "$hi" "$memkb"); then
					die "$SCENARIOS:$lineno: bad bounds in '${fields[k]}'"
				fi
				checks+="num $lo $hi $(subst "$pfx" 0)"$'\n'
			elif [[ $c == '!'* ]]; then
				checks+="nre $(subst "${c#!}" 1)"$'\n'
			else
				checks+="re $(subst "$c" 1)"$'\n'
			fi
		done
		S_NAME+=("$name") S_RC+=("$rc") S_TMO+=("$tmo") S_CMD+=("$cmd") S_CHECKS+=("$checks")
		S_REQ+=("$req") S_KEEP+=("$keep")
	done <"$SCENARIOS"
	((${#S_NAME[@]} > 0)) || die "no scenario selected (NESTED_ONLY='$ONLY', file $SCENARIOS)"
}
check_inputs() {
	local i need_fastvmm=0 g missing=()
	for i in "${!S_NAME[@]}"; do
		[[ ${S_FASTVMM[i]} == 1 ]] && need_fastvmm=1
		for g in $(grep -o '/guests/[A-Za-z0-9._-]*' <<<"${S_CMD[i]}" || true); do
			[[ -f $GUESTS/${g#/guests/} ]] || missing+=("$GUESTS/${g#/guests/} (scenario ${S_NAME[i]})")
		done
	done
	if [[ $need_fastvmm == 1 && ! -x $FASTVMM ]]; then
		die "$FASTVMM is missing: build it first (make; 'make test-nested' does), or pick scenarios without it (NESTED_ONLY=l1-kvm)"
	fi
	((${#missing[@]} == 0)) || die "guest images missing (run make): ${missing[*]}"
}

# ---------------------------------------------------------------------------------------
# Initramfs images
# ---------------------------------------------------------------------------------------
busybox_root() { # DIR: busybox and its applet links in DIR/bin, device nodes, mount points
	local d=$1 a
	mkdir -p "$d"/{bin,dev,proc,sys,tmp,lib/modules}
	cp "$BUSYBOX" "$d/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[[ $a == busybox ]] || ln -sf busybox "$d/bin/$a"
	done
	ln -sf bin "$d/sbin"
	# /dev/console before devtmpfs is mounted; harmless if mknod is not allowed
	mknod -m 600 "$d/dev/console" c 5 1 2>/dev/null || true
	mknod -m 666 "$d/dev/null" c 1 3 2>/dev/null || true
}
pack() { # DIR OUT COMPRESSION
	local d=$1 out=$2
	case $3 in
	gzip) (cd "$d" && find . | sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) >"$out" ;;
	none) (cd "$d" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out" ;;
	*) die "unknown compression '$3'" ;;
	esac
}
# copy_with_libs BIN ROOT: BIN to ROOT/bin, and its shared libraries and loader (from ldd)
# to the same absolute paths under ROOT
copy_with_libs() {
	local bin=$1 root=$2 lib
	install -m 755 "$bin" "$root/bin/$(basename "$bin")"
	if ldd "$bin" >/dev/null 2>&1; then
		while read -r lib; do
			[[ -n $lib && -e $lib ]] || continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done < <(ldd "$bin" | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p')
	fi
}

# ---------------------------------------------------------------------------------------
# L1 runs
# ---------------------------------------------------------------------------------------
declare -A R_VERDICT=() R_RC=() R_SECS=() R_WHY=()
# l1_lines LOG: L1's own lines, without the scenario output it relays ("name| ...")
l1_lines() { grep -av '^[A-Za-z0-9._-]*| ' "$1" || true; }
# qemu_sched: "CPU-ms WAIT-ms" for QEMU so far, summed over its threads: time on a CPU, and
# time spent runnable but waiting for one (/proc/PID/task/*/schedstat), or nothing. A frozen
# L1 has neither growing; one starved by the host's load (other jobs on the same cores)
# waits a lot.
qemu_sched() {
	local pid t run wait sum_run=0 sum_wait=0
	pid=$(cat "/proc/$QPID/task/$QPID/children" 2>/dev/null) || return 0
	pid=${pid%% *}
	[[ -n $pid && -d /proc/$pid/task ]] || return 0
	for t in /proc/"$pid"/task/*/schedstat; do
		read -r run wait _ <"$t" 2>/dev/null || continue
		sum_run=$((sum_run + run)) sum_wait=$((sum_wait + wait))
	done
	echo "$((sum_run / 1000000)) $((sum_wait / 1000000))"
}
# qmon CMD...: runs QEMU human-monitor commands on L1's monitor socket, prints the replies
qmon() {
	python3 - "$MON" "$@" <<'PY' 2>&1 || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
def until_prompt():
    b = b""
    while not b.endswith(b"(qemu) "):
        c = s.recv(65536)
        if not c:
            break
        b += c
    return b.decode(errors="replace")
until_prompt()
for cmd in sys.argv[2:]:
    s.sendall(cmd.encode() + b"\n")
    print("### " + cmd)
    reply = until_prompt().replace("\r", "").rsplit("(qemu) ", 1)[0]
    print(reply.split("\n", 1)[-1])  # without the monitor's echo of the command
PY
}
# l1_freeze NAME CPU_MS WAIT_MS: L1 sat idle while NAME ran: save its state, then kick it
# with a byte on its serial console (the 8250's receive interrupt takes L1 out of its idle
# loop)
l1_freeze() {
	FREEZES=$((FREEZES + 1))
	local f=$OUT/l1-freeze-$FREEZES.txt
	{
		echo "L1 idle while scenario $1 ran: QEMU ran $2 ms and waited $3 ms for a CPU in ${IDLE_WINDOW} s"
		echo "host load: $(cat /proc/loadavg)"
		qmon "info registers" "info lapic" "info pic" "info irq" "info cpus"
	} >"$f"
	log "$1: L1 is frozen (QEMU ran $2 ms, waited $3 ms for a CPU in ${IDLE_WINDOW} s): state in ${f#"$ROOT"/}; kicking it through its serial port"
	printf '\n' >&"$KICK_FD" || true
}
# run_l1 LIST LOG LIMIT: boots L1 for the scenario numbers in LIST (comma-separated, 1-based);
# sets L1_END to done|fatal|stall:<name>|boot-stall|timeout|exit:<rc>
run_l1() {
	local list=$1 logf=$2 limit=$3 append t0 cur="" cur_since="" cur_tmo=0 qrc line elapsed
	local w_t="" w_ms=0 w_wait=0 ms wms kicked=""
	append="console=ttyS0 panic=-1 quiet nested_run=$list"
	[[ $VERBOSE == 1 ]] && append+=" nested_verbose=1"
	# L1's serial console reads a FIFO we hold open (to kick a frozen L1); its monitor is a
	# socket (to save the state of a frozen L1)
	local tmpd
	tmpd=$(mktemp -d "${TMPDIR:-/tmp}/fastvmm-nested.XXXXXX")
	MON=$tmpd/monitor.sock
	mkfifo "$tmpd/serial-in"
	exec {KICK_FD}<>"$tmpd/serial-in"
	t0=$(now)
	timeout -k 10 "$limit" qemu-system-x86_64 -machine q35 -accel "$ACCEL" -cpu qemu64,+svm,+npt \
		-m "$L1_MEM" -smp "$SMP" -nographic -no-reboot -nic none \
		-monitor "unix:$MON,server=on,wait=off" \
		-kernel "$L2_VMLINUZ" -initrd "$L1_IMG" -append "$append" \
		<"$tmpd/serial-in" >"$logf" 2>&1 &
	QPID=$!
	L1_END=""
	L1_READY=""
	while kill -0 "$QPID" 2>/dev/null; do
		sleep 0.5
		elapsed=$(since "$t0")
		if [[ -z $L1_READY ]]; then
			if l1_lines "$logf" | grep -aq 'NESTED-L1 kvm ready\|NESTED-FATAL'; then
				L1_READY=$elapsed
			elif ((${elapsed%.*} > BOOT_LIMIT)); then
				L1_END=boot-stall
				break
			fi
			continue
		fi
		line=$(l1_lines "$logf" | grep -ao 'NESTED-BEGIN [A-Za-z0-9._-]* timeout=[0-9]*' | tail -n 1 || true)
		[[ -n $line ]] || continue
		line=${line#NESTED-BEGIN }
		if [[ ${line%% *} != "$cur" ]]; then
			cur=${line%% *} cur_since=$(now) cur_tmo=${line##*timeout=} w_t="" kicked=""
		fi
		if ! l1_lines "$logf" | grep -aqF "NESTED-RESULT $cur "; then
			# A frozen L1 uses no CPU at all (QEMU waits for an interrupt that never comes);
			# a working one, even idle, takes its timer ticks.
			read -r ms wms < <(qemu_sched) || ms=""
			if [[ -n $ms ]]; then
				if [[ -z $w_t ]]; then
					w_t=$(now) w_ms=$ms w_wait=$wms
				elif (($(printf '%.0f' "$(since "$w_t")") >= IDLE_WINDOW)); then
					if ((ms - w_ms < IDLE_MS && wms - w_wait < 1000 * IDLE_WINDOW / 2)); then
						l1_freeze "$cur" $((ms - w_ms)) $((wms - w_wait))
						kicked=$cur
					elif ((ms - w_ms < IDLE_MS)); then
						STARVED=$((STARVED + 1))
						log "$cur: L1 starved by the host's load (QEMU ran $((ms - w_ms)) ms, waited $((wms - w_wait)) ms for a CPU in ${IDLE_WINDOW} s; load $(cut -d' ' -f1 /proc/loadavg))"
					elif [[ $kicked == "$cur" ]]; then
						FREEZES_RECOVERED=$((FREEZES_RECOVERED + 1))
						log "$cur: L1 runs again after the kick (QEMU ran $((ms - w_ms)) ms in ${IDLE_WINDOW} s)"
						kicked=""
					fi
					w_t=$(now) w_ms=$ms w_wait=$wms
				fi
			fi
			elapsed=$(since "$cur_since")
			if ((${elapsed%.*} > cur_tmo + STALL_GRACE)); then
				L1_END=stall:$cur
				break
			fi
		elif [[ $kicked == "$cur" ]]; then
			FREEZES_RECOVERED=$((FREEZES_RECOVERED + 1))
			log "$cur: L1 ran again after the kick and finished the scenario"
			kicked=""
		fi
	done
	if [[ -n $L1_END ]]; then
		kill "$QPID" 2>/dev/null || true
	fi
	qrc=0
	wait "$QPID" || qrc=$?
	QPID=""
	exec {KICK_FD}>&-
	rm -rf "$tmpd"
	L1_SECS=$(since "$t0")
	if [[ -z $L1_END ]]; then
		if l1_lines "$logf" | grep -aq 'NESTED-FATAL'; then
			L1_END=fatal
		elif l1_lines "$logf" | grep -aq 'NESTED-DONE'; then
			L1_END="done"
		elif ((qrc == 124 || qrc == 137)); then
			L1_END=timeout
		else
			L1_END=exit:$qrc
		fi
	fi
}
# collect LOG: records NESTED-RESULT lines and saves each scenario's output
collect() {
	local logf=$1 name verdict rc secs why
	while read -r _ name verdict rc secs; do
		R_VERDICT[$name]=$verdict R_RC[$name]=${rc#rc=} R_SECS[$name]=${secs#secs=}
	done < <(l1_lines "$logf" | grep -aoE 'NESTED-RESULT [A-Za-z0-9._-]+ (PASS|FAIL) rc=[0-9]+ secs=[0-9.]+' || true)
	while IFS= read -r line; do
		name=${line%%:*}
		why=${line#*:}
		R_WHY[$name]=$why
	done < <(l1_lines "$logf" | grep -aoE 'NESTED-WHY [A-Za-z0-9._-]+:.*' | sed 's/^NESTED-WHY //; s/\r$//' || true)
	mkdir -p "$OUT/scenarios"
	for name in "${S_NAME[@]}"; do
		if grep -aqF "NESTED-OUTPUT-BEGIN $name " "$logf"; then
			awk -v n="$name" 'index($0, "NESTED-OUTPUT-END " n) == 1 { p = 0 }
				p && index($0, n "| ") == 1 { sub(/\r$/, ""); print substr($0, length(n) + 3) }
				index($0, "NESTED-OUTPUT-BEGIN " n " ") == 1 { p = 1 }' "$logf" >"$OUT/scenarios/$name.log"
		fi
	done
}

main() {
	local t_all t i n list attempt left progress name inprog fails=0 passes=0 n_missing=0
	local skips=0 missing f
	local -a pending still
	t_all=$(now)
	[[ $TOTAL_TIMEOUT =~ ^[0-9]+$ ]] || die "NESTED_TIMEOUT must be seconds, got '$TOTAL_TIMEOUT'"
	[[ $SMP =~ ^[1-9][0-9]*$ ]] || die "NESTED_SMP must be a positive number"
	mkdir -p "$OUT"

	# First pass (before the kernel is known) only to fail fast on a bad file or missing inputs
	VARS[KVER]=0.0.0
	parse_scenarios
	check_inputs

	t=$(now)
	ensure_packages
	log "packages ok ($(since "$t") s)"
	PHASES+=" packages=$(since "$t")s"

	t=$(now)
	fetch_kernel "$KPKG"
	KREL=$(find "$KDIR/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -n 1)
	[[ -n $KREL ]] || die "no lib/modules/<release> in $KDEB"
	index_modules
	if [[ -z ${MODS[kvm_amd]:-} && $KPKG != linux-image-amd64 ]]; then
		warn "$(basename "$KDEB") has no kvm-amd module; using linux-image-amd64"
		fetch_kernel linux-image-amd64
		KREL=$(find "$KDIR/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -n 1)
	[[ -n $KREL ]] || die "no lib/modules/<release> in $KDEB"
		index_modules
	fi
	L2_VMLINUZ=$KDIR/boot/vmlinuz-$KREL
	[[ -f $L2_VMLINUZ ]] || die "no $L2_VMLINUZ in $(basename "$KDEB")"
	log "kernel $KREL ready ($(since "$t") s)"
	PHASES+=" kernel-package=$(since "$t")s"
	VARS=([KVER]=$KREL)
	S_NAME=() S_RC=() S_TMO=() S_CMD=() S_CHECKS=() S_FASTVMM=() S_REQ=() S_KEEP=()
	parse_scenarios
	log "${#S_NAME[@]} scenario(s): ${S_NAME[*]}"

	t=$(now)
	L2_VMLINUX=$KDIR/vmlinux
	if ! is_elf "$L2_VMLINUX"; then
		extract_vmlinux "$L2_VMLINUZ" "$L2_VMLINUX.tmp" || die "no ELF vmlinux found inside $L2_VMLINUZ"
		mv "$L2_VMLINUX.tmp" "$L2_VMLINUX"
		log "vmlinux extracted (${VMLINUX_FORMAT}-compressed payload, $(($(stat -c %s "$L2_VMLINUX") / 1048576)) MiB, $(since "$t") s)"
		PHASES+=" vmlinux=$(since "$t")s"
	fi
	PVH=$(pvh_entry "$L2_VMLINUX")
	if [[ -n $PVH ]]; then
		log "vmlinux has a Xen ELF note type 18 (XEN_ELFNOTE_PHYS32_ENTRY): PVH entry $PVH"
	else
		log "vmlinux has NO PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
	fi
	# NESTED_PREPARE_ONLY=1: stop here and name the kernel files (host-side parse tests).
	if [[ ${NESTED_PREPARE_ONLY:-0} == 1 ]]; then
		echo "nested-kernel: $L2_VMLINUZ $L2_VMLINUX"
		return 0
	fi

	t=$(now)
	rm -rf "$WORK"
	mkdir -p "$WORK"
	# L2 initramfs
	# L2 initramfs tree
	local l2=$WORK/l2root r=$WORK/l1root hook
	busybox_root "$l2"
	install -m 755 "$HERE/l2-init" "$l2/init"
	# shellcheck disable=SC2086 # a list of names
	mod_order "${L2_MODULES[@]}" ${NESTED_L2_MODULES:-}
	((${#MISSING[@]} == 0)) || warn "L2: modules not in the kernel package: ${MISSING[*]}"
	mod_install "$l2" "${ORDER[@]}"
	log "L2 modules: ${ORDER[*]}"
	# L1 initramfs tree
	busybox_root "$r"
	install -m 755 "$HERE/l1-init" "$r/init"
	mod_order "${L1_MODULES[@]}"
	((${#MISSING[@]} == 0)) || die "L1: KVM modules missing from $(basename "$KDEB"): ${MISSING[*]}"
	mod_install "$r" "${ORDER[@]}"
	log "L1 modules: ${ORDER[*]}"
	if [[ -x $FASTVMM ]]; then
		# a snapshot: someone may be rebuilding build/fastvmm right now
		cp "$FASTVMM" "$WORK/fastvmm"
		copy_with_libs "$WORK/fastvmm" "$r"
		log "fastvmm: $("$WORK/fastvmm" --version 2>/dev/null | head -n 1 || echo '?'), built $(date -r "$FASTVMM" '+%F %T')," \
			"$(ldd "$WORK/fastvmm" 2>/dev/null | grep -c '=>' || true) shared libraries"
	fi
	mkdir -p "$r/guests" "$r/l2" "$r/nested/scen"
	if compgen -G "$GUESTS/*.elf" >/dev/null; then
		cp "$GUESTS"/*.elf "$r/guests/"
	fi
	cp "$L2_VMLINUZ" "$r/l2/vmlinuz"
	cp "$L2_VMLINUX" "$r/l2/vmlinux"
	if [[ -n $EXTRA_DIR ]]; then
		[[ -d $EXTRA_DIR ]] || die "NESTED_EXTRA_DIR=$EXTRA_DIR is not a directory"
		cp -a "$EXTRA_DIR"/. "$r/"
	fi
	# Hooks of later scenarios (disk images, more files): tests/nested/prepare.d/*.sh
	for hook in "$HERE"/prepare.d/*.sh; do
		[[ -f $hook ]] || continue
		log "prepare hook ${hook#"$ROOT"/}"
		L1ROOT=$r L2ROOT=$l2 KDIR=$KDIR KREL=$KREL WORK=$WORK ROOT=$ROOT \
			NESTED_SELECTED="${S_NAME[*]}" bash "$hook" ||
			die "prepare hook $hook failed"
	done
	pack "$l2" "$WORK/l2-initrd.gz" gzip
	cp "$WORK/l2-initrd.gz" "$r/l2/initrd.gz"
	for i in "${!S_NAME[@]}"; do
		n=$(printf '%s/nested/scen/%03d' "$r" $((i + 1)))
		mkdir -p "$n"
		printf '%s\n' "${S_NAME[i]}" >"$n/name"
		printf '%s\n' "${S_RC[i]}" >"$n/rc"
		printf '%s\n' "${S_TMO[i]}" >"$n/timeout"
		printf '%s\n' "${S_CMD[i]}" >"$n/cmd"
		printf '%s' "${S_CHECKS[i]}" >"$n/checks"
		[[ ${S_KEEP[i]} == 1 ]] && : >"$n/keep"
	done
	L1_IMG=$WORK/l1-initrd.img
	pack "$r" "$L1_IMG" "$L1_COMPRESS"
	PHASES+=" initramfs=$(since "$t")s"
	log "initramfs images built ($(since "$t") s): L2 $(($(stat -c %s "$WORK/l2-initrd.gz") / 1024)) KiB," \
		"L1 $(($(stat -c %s "$L1_IMG") / 1048576)) MiB ($L1_COMPRESS)"

	# Boot L1, again with the scenarios left over if one of them stalled L1 for good.
	: >"$OUT/l1-console.log"
	rm -rf "$OUT/scenarios" "$OUT"/l1-freeze-*.txt
	pending=()
	for i in "${!S_NAME[@]}"; do
		# requires=FILE,...: a scenario whose files are not in L1 (a real guest image absent
		# from ../shared/guests, say) is skipped with one line, and L1 never runs it.
		missing=""
		for f in ${S_REQ[i]}; do
			[[ -e $r$f ]] || missing+=" $f"
		done
		if [[ -n $missing ]]; then
			R_VERDICT[${S_NAME[i]}]=SKIP R_WHY[${S_NAME[i]}]="skipped: needs$missing, not in L1"
			continue
		fi
		pending+=($((i + 1)))
	done
	attempt=0
	while ((${#pending[@]} > 0)); do
		attempt=$((attempt + 1))
		left=$((TOTAL_TIMEOUT - ($(date +%s) - ${t_all%.*})))
		if ((left < 10)); then
			log "out of time (NESTED_TIMEOUT=$TOTAL_TIMEOUT) with ${#pending[@]} scenario(s) not run"
			QEMU_TIMED_OUT=1
			break
		fi
		list=$(
			IFS=,
			echo "${pending[*]}"
		)
		log "L1 boot #$attempt: QEMU -accel $ACCEL -smp $SMP, scenarios $list, limit ${left}s"
		run_l1 "$list" "$OUT/l1-attempt.log" "$left"
		{
			echo "===== L1 boot #$attempt (scenarios $list): ended $L1_END after $L1_SECS s ====="
			tr -d '\r' <"$OUT/l1-attempt.log"
		} >>"$OUT/l1-console.log"
		collect "$OUT/l1-attempt.log"
		log "L1 boot #$attempt ended: $L1_END after $L1_SECS s (L1 uptime at /init" \
			"$(grep -ao 'NESTED-L1 init uptime=[0-9.]*' "$OUT/l1-attempt.log" | head -n 1 | sed 's/.*=//' || true) s," \
			"KVM loaded $(grep -ao 'NESTED-L1 kvm ready uptime=[0-9.]*' "$OUT/l1-attempt.log" | head -n 1 | sed 's/.*=//' || true) s;" \
			"seen by the host after ${L1_READY:-?} s)"
		inprog=$(l1_lines "$OUT/l1-attempt.log" | grep -ao 'NESTED-BEGIN [A-Za-z0-9._-]*' | tail -n 1 | sed 's/^NESTED-BEGIN //' || true)
		rm -f "$OUT/l1-attempt.log"
		PHASES+=" L1-run#$attempt=${L1_SECS}s"
		progress=0
		still=()
		for i in "${pending[@]}"; do
			name=${S_NAME[i - 1]}
			if [[ -n ${R_VERDICT[$name]:-} ]]; then
				progress=1
			elif [[ $name == "$inprog" && $L1_END == stall:* && -z ${STALLED[$name]:-} &&
				$STALL_RETRY == 1 ]]; then
				# L1 itself froze (an emulated-SVM starvation of L1, see nested.md): that
				# says nothing about the scenario, so it runs once more in a fresh L1. A
				# second stall fails it. The report names every retried scenario.
				STALLED[$name]=1
				log "$name: L1 stopped responding while it ran; retrying it once in a fresh L1"
				still+=("$i")
				progress=1
			elif [[ $name == "$inprog" && $L1_END != "done" ]]; then
				R_VERDICT[$name]=FAIL R_RC[$name]=- R_SECS[$name]=-
				if [[ $L1_END == stall:* ]]; then
					R_WHY[$name]=" L1 stopped responding (no result ${STALL_GRACE}s past its ${S_TMO[i - 1]}s timeout); QEMU killed"
				else
					R_WHY[$name]=" L1 ended ($L1_END) while it ran"
				fi
				progress=1
			else
				still+=("$i")
			fi
		done
		pending=("${still[@]}")
		[[ $L1_END == timeout ]] && QEMU_TIMED_OUT=1
		if [[ $L1_END == fatal || $L1_END == boot-stall || $progress == 0 ]]; then
			break
		fi
	done

	# Report
	echo
	log "results (L1 console: ${OUT#"$ROOT"/}/l1-console.log, outputs: ${OUT#"$ROOT"/}/scenarios/):"
	for i in "${!S_NAME[@]}"; do
		name=${S_NAME[i]}
		case ${R_VERDICT[$name]:-MISSING} in
		PASS)
			passes=$((passes + 1))
			printf '  PASS     %-24s rc=%-3s %7ss%s\n' "$name" "${R_RC[$name]}" "${R_SECS[$name]}" \
				"${STALLED[$name]:+  (on the second try: L1 froze during the first)}"
			;;
		FAIL)
			fails=$((fails + 1))
			printf '  FAIL     %-24s rc=%-3s %7ss %s%s\n' "$name" "${R_RC[$name]}" "${R_SECS[$name]}" "${R_WHY[$name]:-}" \
				"${STALLED[$name]:+ (second try; L1 froze during the first)}"
			;;
		SKIP)
			skips=$((skips + 1))
			printf '  SKIP     %-24s %s\n' "$name" "${R_WHY[$name]}"
			;;
		*)
			n_missing=$((n_missing + 1))
			printf '  MISSING  %-24s (no result from L1)\n' "$name"
			;;
		esac
	done
	for name in "${S_NAME[@]}"; do
		if [[ ${R_VERDICT[$name]:-} == FAIL && -s $OUT/scenarios/$name.log ]]; then
			echo
			echo "----- $name: last $TAIL_LINES lines of its output ($OUT/scenarios/$name.log) -----"
			tail -n "$TAIL_LINES" "$OUT/scenarios/$name.log"
			echo "----- end of $name -----"
		fi
	done
	# "keep" scenarios (batch reports): their whole output, pass or fail
	for i in "${!S_NAME[@]}"; do
		name=${S_NAME[i]}
		if [[ ${S_KEEP[i]} == 1 && ${R_VERDICT[$name]:-} == PASS && -s $OUT/scenarios/$name.log ]]; then
			echo
			echo "----- $name: its output ($OUT/scenarios/$name.log) -----"
			grep -av '^\[[0-9]*\] ' "$OUT/scenarios/$name.log" | tail -n "$TAIL_LINES"
			echo "----- end of $name -----"
		fi
	done
	if grep -aq 'NESTED-FATAL' "$OUT/l1-console.log"; then
		echo
		grep -a -A 20 'NESTED-FATAL' "$OUT/l1-console.log" | head -n 30 || true
	fi
	if [[ ${QEMU_TIMED_OUT:-0} == 1 ]]; then
		log "QEMU timed out (NESTED_TIMEOUT=$TOTAL_TIMEOUT)"
	fi
	echo
	log "timings:$PHASES total=$(since "$t_all")s"
	if ((attempt == 0)); then
		: # L1 never booted (every scenario skipped)
	elif ((FREEZES > 0)); then
		log "L1 froze (idle, no CPU) $FREEZES time(s); $FREEZES_RECOVERED ran again after a kick on its serial port (states: ${OUT#"$ROOT"/}/l1-freeze-*.txt)"
	else
		log "L1 never froze"
	fi
	((STARVED == 0)) || log "L1 was starved by the host's load (not frozen) in $STARVED window(s) of ${IDLE_WINDOW} s"
	((n_missing == 0)) || log "$n_missing scenario(s) missing: counted as failed"
	if ((skips > 0)); then
		log "$passes passed, $((fails + n_missing)) failed, $skips skipped"
	else
		log "$passes passed, $((fails + n_missing)) failed"
	fi
	((fails == 0 && n_missing == 0)) && [[ ${QEMU_TIMED_OUT:-0} != 1 ]]
}

main "$@"

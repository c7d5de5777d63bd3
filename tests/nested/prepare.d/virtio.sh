# tests/nested/prepare.d/virtio.sh — files the virtio scenarios need inside L1 (sourced by
# run.sh's prepare step with L1ROOT, KDIR, KREL set): two small disk images and the tun
# module for the tap of the net scenario.
set -euo pipefail
mkdir -p "$L1ROOT/fv"
dd if=/dev/zero of="$L1ROOT/fv/disk.img" bs=1M count=8 status=none
# Content that a stray write would visibly change: the cow scenario compares its hash.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$L1ROOT/fv/disk2.img"
tun=$(find "$KDIR/lib/modules/$KREL" -name 'tun.ko*' | head -n 1)
[[ -n $tun ]] || { echo "prepare virtio: no tun module in $KDIR" >&2; exit 1; }
case $tun in
*.ko.xz) xz -dc "$tun" >"$L1ROOT/fv/tun.ko" ;;
*.ko.zst) zstd -qdc "$tun" >"$L1ROOT/fv/tun.ko" ;;
*.ko.gz) gzip -dc "$tun" >"$L1ROOT/fv/tun.ko" ;;
*) cp "$tun" "$L1ROOT/fv/tun.ko" ;;
esac

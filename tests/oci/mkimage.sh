#!/usr/bin/env bash
# tests/oci/mkimage.sh OUT.tar NAME CMD_JSON FILE[=PATH_IN_IMAGE]... — an OCI image layout
# tarball (image-spec v1.0: oci-layout, index.json, blobs/sha256) with one uncompressed layer
# holding the given files, built locally so that no registry is needed. CMD_JSON is the
# image's Cmd, e.g. '["/hello.elf"]'. NAME is the reference (e.g. localhost/fastvmm-hello:1).
set -euo pipefail
out=$1 name=$2 cmd=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/fastvmm-mkimage.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root" "$work/lay/blobs/sha256"
for f in "$@"; do
	src=${f%%=*} dst=${f#*=}
	[ "$dst" = "$f" ] && dst=/$(basename "$src")
	install -D -m755 "$src" "$work/root$dst"
done
blob() { # file mediatype -> prints descriptor JSON, moves the file into blobs/
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$work/lay/blobs/sha256/$d"
	printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}
# A reproducible layer: fixed owner and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/root" -cf "$work/layer.tar" .
diffid=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer=$(blob "$work/layer.tar" application/vnd.oci.image.layer.v1.tar)
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$cmd" "$diffid" >"$work/config.json"
config=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
	"$config" "$layer" >"$work/manifest.json"
manifest=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
tag=${name##*:}
printf '{"schemaVersion":2,"manifests":[%s]}' \
	"${manifest%\}},\"annotations\":{\"io.containerd.image.name\":\"$name\",\"org.opencontainers.image.ref.name\":\"$tag\"}}" \
	>"$work/lay/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/lay/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/lay" -cf "$out" .

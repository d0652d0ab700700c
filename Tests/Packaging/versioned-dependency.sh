#!/usr/bin/env bash
# Research code adds ByteLatent as a *versioned* SwiftPM dependency, and SwiftPM refuses any
# package with unsafe build flags there. This test does exactly what README.md tells a user to do:
# a throwaway package depends on a tagged clone of this repository through
# `.package(url: "file://…", from: …)`, its main.swift is README.md's "As a library" snippet
# (extracted from the README, so the documented snippet is the tested one), and it runs against
# Models/blt-tiny.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/bytelatent-dependency.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A tagged clone of the committed tree (what a user would fetch).
git clone -q "$root" "$work/ByteLatent"
git -C "$work/ByteLatent" tag 0.1.0

mkdir -p "$work/Research/Sources/Research"
cat > "$work/Research/Package.swift" <<MANIFEST
// swift-tools-version:5.9
import PackageDescription
let package = Package(
    name: "Research",
    dependencies: [.package(url: "file://$work/ByteLatent", from: "0.1.0")],
    targets: [.executableTarget(name: "Research", dependencies: [.product(name: "ByteLatent", package: "ByteLatent")])]
)
MANIFEST
# The first ```swift block after the "### As a library" heading.
awk '/^### As a library/{found=1} found&&/^```swift/{inside=1; next} inside&&/^```/{exit} inside{print}' \
    "$root/README.md" > "$work/Research/Sources/Research/main.swift"
if ! grep -q "import ByteLatent" "$work/Research/Sources/Research/main.swift"; then
    echo "FAIL: could not extract the 'As a library' snippet from README.md"; exit 1
fi

echo "building a package that depends on ByteLatent 0.1.0 (file:// URL, versioned)"
if ! (cd "$work/Research" && swift build -c release 2>&1 | tail -5); then
    echo "FAIL: the versioned dependency does not build"; exit 1
fi
output="$(cd "$root" && "$work/Research/.build/release/Research")"
echo "README snippet printed: $output"
# It prints the bits per byte of "Byte Latent Transformer" under the bundled model.
if ! awk -v v="$output" 'BEGIN { exit !(v + 0 > 0 && v + 0 < 8) }'; then
    echo "FAIL: expected a bits-per-byte figure in (0, 8), got '$output'"; exit 1
fi
echo "versioned-dependency test passed"

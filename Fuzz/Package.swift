// swift-tools-version:5.9
// libFuzzer harnesses for ByteLatent's parsers. A separate package (the library's Package.swift
// stays free of unsafeFlags); build and run with `make fuzz` from the repository root, which passes
// `-Xswiftc -sanitize=fuzzer,address`. See Docs/reliability.md.
import Foundation
import PackageDescription

// The main package is the parent directory; a path dependency's identity is its directory name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let main = root.lastPathComponent

let harnesses: [(String, [String])] = [
    ("FuzzSafetensorsHeader", ["Safetensors"]),
    ("FuzzSafetensorsIndex", ["Safetensors"]),
    ("FuzzZip", ["ByteLatentConvert"]),
    ("FuzzUnpickler", ["ByteLatentConvert"]),
    ("FuzzConfig", ["ByteLatent", "ByteLatentConvert", "Safetensors"]),
    ("FuzzJSONL", ["ByteLatent", "ByteLatentEval"]),
    ("FuzzEvalMerge", ["ByteLatent", "ByteLatentEval"]),
]

let package = Package(
    name: "ByteLatentFuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "FuzzSupport", path: "Sources/FuzzSupport")] + harnesses.map { name, products in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: main) },
            path: "Sources/\(name)",
            // libFuzzer supplies main(); the harness only defines LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)

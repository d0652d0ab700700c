// swift-tools-version:5.9
import PackageDescription

// Hot loops are compiled for x86-64-v3 (AVX2, FMA, F16C) in release builds: without it Swift
// emits baseline SSE2 code and F16 conversion or SIMD FMA become library calls (see Docs).
let optimized: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", "-march=x86-64-v3"], .when(configuration: .release)),
]

let package = Package(
    name: "ByteLatent",
    products: [
        .library(name: "ByteLatent", targets: ["ByteLatent"]),
        .library(name: "Safetensors", targets: ["Safetensors"]),
        .library(name: "ByteLatentConvert", targets: ["ByteLatentConvert"]),
        .executable(name: "blt", targets: ["blt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Debian: libopenblas-dev + liblapacke-dev.
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "Safetensors", swiftSettings: optimized),
        .target(name: "ByteLatent", dependencies: ["COpenBLAS", "Safetensors"], swiftSettings: optimized),
        .target(name: "ByteLatentConvert", dependencies: ["Safetensors", "ByteLatent"], swiftSettings: optimized),
        .executableTarget(
            name: "blt",
            dependencies: [
                "ByteLatent", "ByteLatentConvert", "Safetensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimized
        ),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors"]),
        .testTarget(name: "ByteLatentTests", dependencies: ["ByteLatent", "Safetensors", "COpenBLAS"]),
        .testTarget(name: "ConvertTests", dependencies: ["ByteLatentConvert", "ByteLatent", "Safetensors"]),
    ]
)

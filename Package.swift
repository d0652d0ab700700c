// swift-tools-version:5.9
import PackageDescription

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
        // Kernels that need particular instructions (AVX2, AVX-512, AVX512-BF16): C with per-function
        // target attributes and run-time CPU detection, plus portable C. No build flags anywhere, so
        // the package can be a versioned dependency.
        .target(name: "CKernels"),
        .target(name: "Safetensors"),
        .target(name: "ByteLatent", dependencies: ["COpenBLAS", "CKernels", "Safetensors"]),
        .target(name: "ByteLatentConvert", dependencies: ["Safetensors", "ByteLatent"]),
        .executableTarget(
            name: "blt",
            dependencies: [
                "ByteLatent", "ByteLatentConvert", "Safetensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors"]),
        .testTarget(name: "ByteLatentTests", dependencies: ["ByteLatent", "Safetensors", "COpenBLAS", "CKernels"]),
        .testTarget(name: "ConvertTests", dependencies: ["ByteLatentConvert", "ByteLatent", "Safetensors"]),
    ]
)

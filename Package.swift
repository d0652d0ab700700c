// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "ByteLatent",
    products: [
        .library(name: "ByteLatent", targets: ["ByteLatent"]),
        .library(name: "ByteLatentEval", targets: ["ByteLatentEval"]),
        .library(name: "ByteLatentPlots", targets: ["ByteLatentPlots"]),
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
        // The package's one JSON stack (value, parser, writer) with `package` access: every target
        // here uses it, no product exports it.
        .target(name: "JSONSupport"),
        .target(name: "Safetensors", dependencies: ["JSONSupport"]),
        .target(name: "ByteLatent", dependencies: ["COpenBLAS", "CKernels", "Safetensors", "JSONSupport"]),
        // Evaluation over documents (windows, packing, sharded summaries, the lm-eval service) on top
        // of the engine; scoring of logits (NLL, bits per byte) stays in ByteLatent.
        .target(name: "ByteLatentEval", dependencies: ["ByteLatent", "Safetensors", "JSONSupport"]),
        .target(name: "ByteLatentConvert", dependencies: ["Safetensors", "ByteLatent", "JSONSupport"]),
        // SVG pictures of patches, entropies, per-byte scores and sweeps (blt patch/eval/sweep --svg).
        .target(name: "ByteLatentPlots", dependencies: ["ByteLatent", "ByteLatentEval"]),
        // Timing of the kernel seam's products and of the machine's read bandwidth and sgemm rate
        // (blt bench-kernels); in no product.
        .target(name: "ByteLatentBenchmarks", dependencies: ["ByteLatent", "COpenBLAS"]),
        .executableTarget(
            name: "blt",
            dependencies: [
                "ByteLatent", "ByteLatentEval", "ByteLatentConvert", "ByteLatentPlots", "ByteLatentBenchmarks", "Safetensors", "JSONSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fixture paths and readers (the one locator of Tests/Fixtures) and the `blt` process helper,
        // shared by the test targets.
        .target(name: "TestSupport", dependencies: ["Safetensors", "JSONSupport"], path: "Tests/TestSupport"),
        // One test target per module; BLTCLITests runs the built `blt` executable.
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors", "JSONSupport", "TestSupport"]),
        .testTarget(name: "ByteLatentTests", dependencies: ["ByteLatent", "ByteLatentBenchmarks", "Safetensors", "COpenBLAS", "CKernels", "TestSupport", "JSONSupport"]),
        .testTarget(name: "ByteLatentEvalTests", dependencies: ["ByteLatentEval", "ByteLatent", "Safetensors", "TestSupport", "JSONSupport"]),
        .testTarget(name: "ByteLatentPlotsTests", dependencies: ["ByteLatentPlots", "ByteLatentEval", "ByteLatent", "Safetensors", "TestSupport", "JSONSupport"]),
        .testTarget(name: "ConvertTests", dependencies: ["ByteLatentConvert", "ByteLatent", "Safetensors", "TestSupport", "JSONSupport"]),
        .testTarget(name: "BLTCLITests", dependencies: ["ByteLatent", "Safetensors", "TestSupport", "JSONSupport"]),
    ]
)

import XCTest
@testable import ByteLatent

/// Reproducible test values in [-1, 1] (a 64-bit LCG), for the op-level kernel tests.
struct TestValues {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
    }
    mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

extension XCTestCase {
    /// Runs `body` once per kernel path this CPU supports (generic, avx2, avx512, avx512bf16, amx), then
    /// restores the path in use. Prints the paths, so the test log names what ran.
    func forEachKernelPath(_ body: (KernelPath) throws -> Void) rethrows {
        let original = KernelPath.active
        defer { KernelPath.select(original) }
        let paths = KernelPath.supported
        XCTAssertTrue(paths.contains(.generic))
        print("kernel paths tested on this CPU: \(paths.map(\.description).joined(separator: ", ")) (active by default: \(original))")
        for path in paths {
            XCTAssertTrue(KernelPath.select(path))
            XCTAssertEqual(KernelPath.active, path)
            try body(path)
        }
    }
}

import Foundation
import XCTest
@testable import ByteLatentBenchmarks

/// `MachineLimits` on small sizes: the figures are rates (positive, finite), whatever this machine's
/// speed; nothing here asserts how fast it is.
final class MachineLimitsTests: XCTestCase {
    func testLimitsAreFinitePositiveRates() {
        let read = MachineLimits.readBandwidth(bytes: 1 << 20, threads: 2, repetitions: 1)
        XCTAssertTrue(read.isFinite && read > 0, "\(read)")
        let sgemm = MachineLimits.sgemmRate(size: 64, repetitions: 1)
        XCTAssertTrue(sgemm.isFinite && sgemm > 0, "\(sgemm)")
        XCTAssertFalse(MachineLimits.cpuName.isEmpty)
        XCTAssertTrue(MachineLimits.openBLASConfiguration.hasPrefix("OpenBLAS"), MachineLimits.openBLASConfiguration)
    }

    /// The four-run read touches every byte: each of five set bits (one per run, one in the
    /// remainder past the four runs) shows in what it returns, and an all-zero buffer gives 0.
    func testFourRunReadSeesEveryByte() {
        let count = 4 * 96 + 7   // runs of 96 bytes (three 32-byte loads each), 7 bytes left over
        var bytes = [UInt8](repeating: 0, count: count)
        XCTAssertEqual(bytes.withUnsafeBytes { MachineLimits.readInFourRuns($0.baseAddress!, count) }, 0)
        for (position, bit) in [(5, 0), (96 + 40, 1), (2 * 96 + 95, 2), (3 * 96 + 64, 3), (4 * 96 + 6, 4)] {
            bytes[position] = 1 << bit
        }
        let found = bytes.withUnsafeBytes { MachineLimits.readInFourRuns($0.baseAddress!, count) }
        // Each byte lands in some byte lane of the 64-bit OR; fold the lanes to see every bit.
        var folded = 0
        for lane in 0..<8 { folded |= (found >> (8 * lane)) & 0xFF }
        XCTAssertEqual(folded, 0b11111)
    }
}

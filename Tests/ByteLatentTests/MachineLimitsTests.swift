import Foundation
import XCTest
import ByteLatentBenchmarks

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
}

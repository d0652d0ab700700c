import Foundation
import XCTest
@testable import ByteLatent

/// The engine's loops over workers (`parallelFor` on the persistent workers, Dispatch when they are
/// held, `parallelSlices`, `parallelChunks`): every index runs exactly once, also when two threads start loops at
/// once and when a task starts a loop of its own.
final class ParallelTests: XCTestCase {
    /// Counts of how often each index ran, from many threads.
    final class Tally: @unchecked Sendable {   // guarded by lock
        let lock = NSLock()
        var counts: [Int]
        init(_ n: Int) { counts = [Int](repeating: 0, count: n) }
        func add(_ i: Int) { lock.withLock { counts[i] += 1 } }
    }

    func testEveryIndexRunsOnceFromTwoThreadsWithNestedLoops() {
        let outer = 16, inner = 7, rounds = 200
        let tallies = [Tally(outer * inner * rounds), Tally(outer * inner * rounds)]
        let done = DispatchGroup()
        for tally in tallies {
            done.enter()
            Thread {
                for round in 0..<rounds {
                    parallelFor(outer) { i in
                        parallelFor(inner) { j in tally.add((round * outer + i) * inner + j) }
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        for tally in tallies { XCTAssertEqual(tally.counts, [Int](repeating: 1, count: outer * inner * rounds)) }
    }

    func testSlicesCoverTheRangeOnceOnGranularBounds() {
        for total in [1, 15, 16, 17, 100, 1000, 5632] {
            let tally = Tally(total)
            let starts = Tally(total)
            parallelSlices(total, granularity: 16, minimumSlice: 1) { range in
                starts.add(range.lowerBound)
                for i in range { tally.add(i) }
            }
            XCTAssertEqual(tally.counts, [Int](repeating: 1, count: total), "\(total)")
            let bounds = starts.counts.indices.filter { starts.counts[$0] > 0 }
            XCTAssertTrue(bounds.allSatisfy { $0 % 16 == 0 }, "\(total): \(bounds)")
            XCTAssertLessThanOrEqual(bounds.count, coreCount, "\(total): one slice per core at most")
        }
    }

    /// Guided chunks: every index once, chunks never growing, none below the minimum but the last.
    func testChunksCoverTheRangeOnceLargestFirst() {
        for (total, minimum) in [(1, 64), (63, 64), (64, 64), (65, 64), (1000, 16), (5632, 1), (100_000, 32)] {
            let tally = Tally(total)
            let lengths = Tally(total + 1)   // lengths[start] = the length of the chunk that starts there
            parallelChunks(total, minimumChunk: minimum) { range in
                lengths.lock.withLock { lengths.counts[range.lowerBound] = range.count }
                for i in range { tally.add(i) }
            }
            XCTAssertEqual(tally.counts, [Int](repeating: 1, count: total), "\(total)")
            let chunks = lengths.counts.filter { $0 > 0 }
            XCTAssertEqual(chunks.reduce(0, +), total)
            XCTAssertEqual(chunks, chunks.sorted(by: >), "\(total): chunks are handed out largest first")
            XCTAssertTrue(chunks.dropLast().allSatisfy { $0 >= minimum }, "\(total): \(chunks)")
        }
    }
}

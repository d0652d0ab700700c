import Foundation
import XCTest
import COpenBLAS
@testable import ByteLatent

/// The model/context split (issue 22): contexts on one model share nothing mutable, and a context's
/// workspace stops allocating once it has seen a pass of a given shape.
final class InferenceContextTests: XCTestCase {
    let modelDirectory = BundledModelTests.root.appendingPathComponent("Models/blt-tiny").path

    /// The sample text cut into documents of several lengths (one packed pass holds them all).
    func documents() throws -> [[Int32]] {
        let text = Array(try Data(contentsOf: BundledModelTests.root.appendingPathComponent("Models/sample.txt")))
        return [text.prefix(900), text.dropFirst(900).prefix(300), text.suffix(1200), text.prefix(40)].map { Tokenizer.encode(Array($0)) }
    }

    /// What one thread computes in its context: a packed pass's logits, the entropies of one document,
    /// and 16 sampled bytes with their last logits.
    func workload(_ context: InferenceContext, documents: [[Int32]], seed: UInt64) throws -> [[Float]] {
        let logits = try context.logits(batch: documents)
        let entropies = try context.entropies(documents[0])
        let generator = try ByteGenerator(context: context, prompt: Array(documents[1].dropLast()),
                                          sampling: SamplingOptions(temperature: 0.9, topK: 40, seed: seed), maxNewIDs: 16,
                                          stopAtEOS: false)
        let generated = generator.map { Float($0) }
        return logits + [entropies, generated, generator.nextLogits]
    }

    /// Runs `bodies` at once, each on a thread of its own, and returns their results in order.
    func onThreads(_ bodies: [() throws -> [[Float]]]) throws -> [[[Float]]] {
        let results = Results(count: bodies.count), done = DispatchGroup()
        for (i, body) in bodies.enumerated() {
            done.enter()
            let thread = Thread {
                let result = Result { try body() }
                results.lock.withLock { results.values[i] = result }
                done.leave()
            }
            thread.start()
        }
        done.wait()
        return try results.values.map { try $0!.get() }
    }

    /// Two contexts on one model, used from two threads at once, give exactly what they give one after
    /// the other (the same computation by construction: same shapes, same kernels, same sums), on every
    /// kernel path this CPU runs and in both precisions. test-matrix.sh reruns it under each forced
    /// configuration (the generic path, AVX2 with OpenBLAS or the blocked GEMM, Prescott, Zen).
    func testTwoContextsOnTwoThreadsMatchSequentialUse() throws {
        // Short documents (blocks of 64 queries and more than one block each): the debug build is slow.
        let documents = try documents().map { Array($0.prefix(200)) }
        let original = KernelPath.active
        defer { KernelPath.select(original) }
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.select(path))
            for precision in Precision.allCases {
                let model = try BLTModel(directory: modelDirectory, precision: precision)
                let shorter = documents.map { Array($0.prefix(130)) }
                let sequential = [try workload(InferenceContext(model: model), documents: documents, seed: 1),
                                  try workload(InferenceContext(model: model), documents: shorter, seed: 2)]
                let concurrent = try onThreads([
                    { try self.workload(InferenceContext(model: model), documents: documents, seed: 1) },
                    { try self.workload(InferenceContext(model: model), documents: shorter, seed: 2) },
                ])
                XCTAssertEqual(concurrent[0], sequential[0], "\(path) \(precision): first context")
                XCTAssertEqual(concurrent[1], sequential[1], "\(path) \(precision): second context")
                XCTAssertEqual(sequential[0].count, documents.count + 3)
                XCTAssertEqual(sequential[0][0].count, documents[0].count * 260)
                XCTAssertEqual(sequential[0][documents.count + 1].count, 16)
            }
        }
    }

    /// An embedding application that sets OpenBLAS's (process-wide) thread count changes nothing a
    /// context computes: the engine holds OpenBLAS at one thread and splits products itself.
    func testOpenBLASThreadCountSetElsewhereIsHeldAtOne() throws {
        let model = try BLTModel(directory: modelDirectory)
        let documents = try documents()
        let before = try InferenceContext(model: model).logits(batch: documents)
        openblas_set_num_threads(2)
        let after = try InferenceContext(model: model).logits(batch: documents)
        XCTAssertEqual(openblas_get_num_threads(), 1)
        XCTAssertEqual(after, before)
    }

    /// A context reused from pass to pass computes what a fresh one does.
    func testReusedContextMatchesFreshContexts() throws {
        let model = try BLTModel(directory: modelDirectory)
        let documents = try documents()
        let context = InferenceContext(model: model)
        for batch in [documents, [documents[3]], [documents[1], documents[0]]] {
            XCTAssertEqual(try context.logits(batch: batch), try InferenceContext(model: model).logits(batch: batch))
            XCTAssertEqual(try context.forward(batch: batch).map(\.globalStates),
                           try model.forward(batch: batch).map(\.globalStates))
        }
    }

    /// After a warm-up pass, a second pass of the same shape makes no allocation above 64 KB in the
    /// workspace or the kernel scratch; a smaller pass makes none either, a larger one grows it.
    func testSecondPassOfTheSameShapeAllocatesNothingLarge() throws {
        let documents = try documents()
        for precision in Precision.allCases {
            let model = try BLTModel(directory: modelDirectory, precision: precision)
            let context = InferenceContext(model: model)
            let first = try context.logits(batch: documents)
            let warm = context.largeAllocationCount
            XCTAssertGreaterThan(warm, 5, "the first pass sizes the workspace")
            XCTAssertGreaterThan(context.reservedBytes, documents.joined().count * 256 * 4)   // at least the FFN's buffers

            XCTAssertEqual(try context.logits(batch: documents), first)
            XCTAssertEqual(context.largeAllocationCount, warm, "\(precision): the same shape again")
            _ = try context.logits(batch: [documents[2], documents[3]])
            XCTAssertEqual(context.largeAllocationCount, warm, "\(precision): a smaller pass")
            _ = try context.logits(batch: documents + documents)
            XCTAssertGreaterThan(context.largeAllocationCount, warm, "\(precision): a larger pass grows the buffers")
        }
    }
}

/// Results of threads: written under `lock`, read once every thread is done.
private final class Results: @unchecked Sendable {
    let lock = NSLock()
    var values: [Result<[[Float]], Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
}

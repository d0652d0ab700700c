import Foundation
import Safetensors
import JSONSupport
import XCTest
import TestSupport
@testable import ByteLatent

/// A text longer than the entropy model's 8,192 positions runs window by window, with memory that
/// of one window, and gives the whole-sequence entropies and patches of transformers' patcher run
/// in float64 (`long-patching.json`, from Converters/reference/make_long_patching_fixture.py).
final class LongTextPatchingTests: XCTestCase {
    struct Reference {
        var text: Data
        var ids: [Int32]
        var threshold: Float
        var entropiesFrom: Int
        var entropies: [Float]
        var patchLengths: [Int]
    }

    func reference() throws -> Reference {
        let fixture = try Fixtures.json("long-patching.json")
        let sample = try Data(contentsOf: Fixtures.root.appendingPathComponent("../../Models/sample.txt"))
        let text = Data(Array(repeating: sample, count: try XCTUnwrap(fixture["text"]["repeat"].int)).joined())
            .prefix(try XCTUnwrap(fixture["text"]["bytes"].int))
        let ids = Tokenizer.encode(Array(text), addEOS: true)
        XCTAssertEqual(ids.count, fixture["ids"].int)
        return Reference(text: text, ids: ids, threshold: Float(try XCTUnwrap(fixture["threshold"].double)),
                         entropiesFrom: try XCTUnwrap(fixture["entropies_from"].int), entropies: fixture["entropies"].floats,
                         patchLengths: fixture["patch_lengths"].ints)
    }

    func testTextPastThePositionsMatchesTheWholeSequencePass() throws {
        let reference = try reference()
        let model = try BLTModel(directory: Fixtures.modelDirectory("tiny-a"))
        let windows = EntropyWindows(count: reference.ids.count, context: .transformers, positions: model.config.patcher.maxPositions,
                                     layers: model.config.patcher.layerCount, slidingWindow: model.config.patcher.slidingWindow)
        // tiny-a: 2 layers × a 32-id window of history before the second window's 1,810 ids.
        XCTAssertEqual(windows.windows, [.init(start: 0, kept: 0 ..< 8192), .init(start: 8128, kept: 8192 ..< 10002)])
        let entropies = try model.entropies(reference.ids, context: .transformers)
        XCTAssertEqual(entropies.count, reference.ids.count)
        // The fixture is exact (float64, float64 rotary angles). Float32 angles at a position p round
        // by about p·6e-8 rad: in the first window (positions up to 8,191) transformers' own float32
        // pass strays by up to 2.2e-3 and so does ours, which computes angles as it does; the second
        // window runs at positions below 1,900, and strays by less than 5e-4.
        for (offset, expected) in reference.entropies.enumerated() {
            let position = reference.entropiesFrom + offset
            XCTAssertEqual(entropies[position], expected, accuracy: position < 8192 ? 2.5e-3 : 5e-4, "entropy \(position)")
        }
        let scheme = try PatchingScheme(rule: .entropy, threshold: reference.threshold, maxPatchLength: model.config.maxPatchLength)
        XCTAssertEqual(try scheme.patchLengths(ids: reference.ids, entropies: entropies).trimmingZeros, reference.patchLengths)
    }

    /// The official context restarts every 8,192 ids: the second chunk's first entropy is that of a
    /// sequence starting there.
    func testOfficialContextRestartsEveryChunk() throws {
        let reference = try reference()
        let model = try BLTModel(directory: Fixtures.modelDirectory("tiny-a"))
        let official = try model.entropies(reference.ids, context: .official)
        let alone = try model.entropies(Array(reference.ids[8192...]))
        // Both run ids 8192… as a sequence of their own from position 0: the same computation.
        XCTAssertEqual(Array(official[8192...]), alone)
    }
}

private extension Array where Element == Int {
    var trimmingZeros: [Int] { Array(self[..<(lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0)]) }
}

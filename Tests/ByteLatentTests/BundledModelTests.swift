import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// The trained model `make demo` runs (Models/blt-tiny): our engine reproduces transformers'
/// evaluation of the held-out sample (Models/blt-tiny/reference-eval.json, from the saved bf16
/// weights upcast to fp32) — patches and bits-per-byte.
final class BundledModelTests: XCTestCase {
    static let root = Fixtures.repository

    func testHeldOutSampleMatchesTransformers() throws {
        let model = try BLTModel(directory: Self.root.appendingPathComponent("Models/blt-tiny").path)
        let reference = try JSONValue.parse(Data(contentsOf: Self.root.appendingPathComponent("Models/blt-tiny/reference-eval.json")))
        let sample = try Data(contentsOf: Self.root.appendingPathComponent("Models/sample.txt"))
        let ids = Tokenizer.encode(Array(sample))
        XCTAssertEqual(ids.count, reference["ids_count"].int)
        let entropies = try model.entropies(ids)
        let first64 = reference["entropies_first_64"].floats
        XCTAssertEqual(first64.count, 64)
        XCTAssertLessThan(zip(entropies, first64).map { abs($0 - $1) }.max()!, 1e-4)
        let forward = try model.forward(ids)
        XCTAssertEqual(forward.patchLengths, reference["patch_lengths"].ints)
        let score = Scoring.score(logits: forward.logits, ids: ids)
        XCTAssertEqual(score.targets, reference["targets"].int)
        XCTAssertEqual(score.bitsPerByte, try XCTUnwrap(reference["bits_per_byte"].double), accuracy: 1e-5)
        // A trained model: real patches (the paper's models average about 4.5 bytes) and far below 8 bits.
        XCTAssertGreaterThan(Double(ids.count) / Double(forward.patchLengths.filter { $0 > 0 }.count), 3)
        XCTAssertLessThan(score.bitsPerByte, 3)
    }
}

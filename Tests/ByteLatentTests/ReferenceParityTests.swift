import Foundation
import XCTest
import Safetensors
@testable import ByteLatent

/// Every model under Tests/Fixtures/models was built and run by transformers 5.24 (see
/// Converters/reference/make_fixtures.py); the engine must reproduce its numbers.
final class ReferenceParityTests: XCTestCase {
    static let modelsRoot = Fixtures.path("models")

    static var modelDirectories: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: modelsRoot)) ?? []
        return names.sorted().map { modelsRoot + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0 + "/expected.json") }
    }

    struct Case {
        var name: String
        var ids: [Int32]
        var entropies: [Float]
        var patchLengths: [Int]
        var targets: Int
        var nll: Double
        var bitsPerByte: Double
        var logitsName: String
    }

    static func cases(_ expected: JSONValue) -> [Case] {
        expected["cases"].array.map {
            Case(name: $0["name"].string ?? "?", ids: $0["ids"].ints.map(Int32.init), entropies: $0["entropies"].floats,
                 patchLengths: $0["patch_lengths"].ints, targets: $0["targets"].int ?? -1,
                 nll: $0["nll_nats"].double ?? .nan, bitsPerByte: $0["bits_per_byte"].double ?? .nan,
                 logitsName: $0["logits"].string ?? "")
        }
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testFixturesExist() {
        XCTAssertGreaterThanOrEqual(Self.modelDirectories.count, 1, "no reference fixtures under \(Self.modelsRoot)")
    }

    func testEntropiesPatchesLogitsAndBitsPerByteMatchTransformers() throws {
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            let tensors = try SafetensorsFile(path: directory + "/expected.safetensors")
            let label = URL(fileURLWithPath: directory).lastPathComponent
            XCTAssertEqual(Double(model.config.patchingThreshold), expected["threshold"].double ?? .nan, accuracy: 1e-6)
            let cases = Self.cases(expected)
            XCTAssertFalse(cases.isEmpty, label)
            for c in cases {
                let where_ = "\(label)/\(c.name)"
                let entropies = try model.entropies(c.ids)
                XCTAssertLessThan(maxDifference(entropies, c.entropies), 1e-4, "entropies \(where_)")
                XCTAssertEqual(model.patchLengths(entropies: entropies), c.patchLengths, "patch lengths \(where_)")
                let forward = try model.forward(c.ids)
                XCTAssertEqual(forward.patchLengths, c.patchLengths, where_)
                let expectedLogits = try tensors.tensor(c.logitsName).floats()
                XCTAssertLessThan(maxDifference(forward.logits, expectedLogits), 2e-4, "logits \(where_)")
                let score = Scoring.score(logits: forward.logits, ids: c.ids)
                XCTAssertEqual(score.targets, c.targets, where_)
                XCTAssertEqual(score.bitsPerByte, c.bitsPerByte, accuracy: 1e-5, "bits per byte \(where_)")
                XCTAssertEqual(score.nllNats, c.nll, accuracy: 1e-5 * Double(c.targets), where_)
                // Patch lengths supplied by the caller give the same logits.
                let supplied = try model.logits(c.ids, patchLengths: c.patchLengths)
                XCTAssertEqual(supplied, forward.logits, where_)
            }
        }
    }

    /// Op-level parity on one case per model: each stage against transformers' hooks.
    func testIntermediateStatesMatchTransformers() throws {
        var checked = 0
        for directory in Self.modelDirectories {
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            guard let caseName = expected["intermediates_case"].string,
                  let c = Self.cases(expected).first(where: { $0.name == caseName }) else { continue }
            let tensors = try SafetensorsFile(path: directory + "/expected.safetensors")
            let model = try BLTModel(directory: directory)
            let forward = try model.forward(c.ids)
            let label = URL(fileURLWithPath: directory).lastPathComponent
            let stages: [(String, [Float])] = [
                ("embeddings", forward.embeddings), ("encoder_states", forward.encoderStates),
                ("encoder_patches", forward.encoderPatches), ("global_out", forward.globalStates),
                ("decoder_states", forward.decoderStates), ("patcher_logits", try model.entropyModelLogits(c.ids)),
            ]
            for (stage, values) in stages {
                guard tensors.info("\(caseName).\(stage)") != nil else { continue }
                let reference = try tensors.tensor("\(caseName).\(stage)").floats()
                let scale = max(1, reference.map(abs).max() ?? 1)
                XCTAssertLessThan(maxDifference(values, reference) / scale, 2e-5, "\(label) \(stage)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0, "no intermediate states in the fixtures")
    }
}

import Foundation
import XCTest
import TestSupport
import Safetensors
@testable import ByteLatent
import JSONSupport

/// Every model under Tests/Fixtures/models was built and run by transformers 5.24 (see
/// Converters/reference/make_fixtures.py); the engine must reproduce its numbers.
final class ReferenceParityTests: XCTestCase {
    static let modelsRoot = Fixtures.modelsRoot
    static let modelNames = Fixtures.modelNames
    static var modelDirectories: [String] { Fixtures.modelDirectories }
    static func directory(_ name: String) -> String { Fixtures.modelDirectory(name) }

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

    func testFixturesExist() throws {
        let files = FileManager.default
        for name in Self.modelNames {
            let directory = Self.directory(name)
            for file in ["config.json", "expected.json", "expected.safetensors"] {
                XCTAssertTrue(files.fileExists(atPath: directory + "/" + file), "missing fixture \(directory)/\(file)")
            }
            XCTAssertTrue(files.fileExists(atPath: directory + "/model.safetensors") || files.fileExists(atPath: directory + "/model.safetensors.index.json"),
                          "missing fixture weights in \(directory)")
        }
        // A fixture directory nobody lists would be tested by nothing.
        let present = try files.contentsOfDirectory(atPath: Self.modelsRoot).filter { files.fileExists(atPath: Self.directory($0) + "/config.json") }
        XCTAssertEqual(present.sorted(), Self.modelNames, "fixture models under \(Self.modelsRoot) vs ReferenceParityTests.modelNames")
        XCTAssertTrue(files.fileExists(atPath: Self.directory("tiny-b-sharded") + "/model.safetensors.index.json"), "tiny-b-sharded is not sharded")
    }

    func testEntropiesPatchesLogitsAndBitsPerByteMatchTransformers() throws {
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            let tensors = try SafetensorsFile(path: directory + "/expected.safetensors")
            let label = URL(fileURLWithPath: directory).lastPathComponent
            XCTAssertEqual(Double(model.config.patchingThreshold), expected["threshold"].double ?? .nan, accuracy: 1e-6)
            let cases = Self.cases(expected)
            XCTAssertEqual(cases.map(\.name), ["prose", "code", "utf8", "one_byte", "long"], "cases in \(label)/expected.json")
            for c in cases {
                let where_ = "\(label)/\(c.name)"
                let entropies = try model.entropies(c.ids)
                XCTAssertLessThan(maxDifference(entropies, c.entropies), 1e-4, "entropies \(where_)")
                // Exact: the fixture's threshold lies min_entropy_margin (≫ 1e-4) away from every entropy.
                XCTAssertEqual(model.patchLengths(entropies: entropies), c.patchLengths, "patch lengths \(where_)")
                let forward = try model.forward(c.ids)
                XCTAssertEqual(forward.patchLengths, c.patchLengths, where_)
                let expectedLogits = try tensors.tensor(c.logitsName).floats()
                XCTAssertLessThan(maxDifference(forward.logits, expectedLogits), 2e-4, "logits \(where_)")
                let score = Scoring.score(logits: forward.logits, ids: c.ids)
                XCTAssertEqual(score.targets, c.targets, where_)
                XCTAssertEqual(score.bitsPerByte, c.bitsPerByte, accuracy: 1e-5, "bits per byte \(where_)")
                XCTAssertEqual(score.nllNats, c.nll, accuracy: 1e-5 * Double(c.targets), where_)
                // Patch lengths supplied by the caller give the same logits (the same pass, bit for bit).
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
            let label = URL(fileURLWithPath: directory).lastPathComponent
            let caseName = try XCTUnwrap(expected["intermediates_case"].string, "\(label)/expected.json has no intermediates_case")
            let c = try XCTUnwrap(Self.cases(expected).first(where: { $0.name == caseName }), "\(label)/expected.json has no case \(caseName)")
            let tensors = try SafetensorsFile(path: directory + "/expected.safetensors")
            let model = try BLTModel(directory: directory)
            let forward = try model.forward(c.ids)
            let stages: [(String, [Float])] = [
                ("embeddings", forward.embeddings), ("encoder_states", forward.encoderStates),
                ("encoder_patches", forward.encoderPatches), ("global_out", forward.globalStates),
                ("decoder_states", forward.decoderStates), ("patcher_logits", try model.entropyModelLogits(c.ids)),
            ]
            for (stage, values) in stages {
                guard tensors.info("\(caseName).\(stage)") != nil else {
                    XCTFail("missing fixture tensor \(caseName).\(stage) in \(directory)/expected.safetensors")
                    continue
                }
                let reference = try tensors.tensor("\(caseName).\(stage)").floats()
                let scale = max(1, reference.map(abs).max() ?? 1)
                XCTAssertLessThan(maxDifference(values, reference) / scale, 2e-5, "\(label) \(stage)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 6 * Self.modelNames.count, "intermediate states checked")
    }
}

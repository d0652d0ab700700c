import Foundation
import XCTest
import TestSupport
import JSONSupport
@testable import ByteLatent
@testable import ByteLatentEval

/// Per-byte scores (`Evaluator.byteScores`, `blt eval --per-byte`): the surprisals sum to the
/// evaluation's NLL and the reference's, patch starts and entropies are the reference's, windows
/// are the evaluation's, and the JSON line reads back.
final class ByteScoresTests: XCTestCase {
    func testPerByteSurprisalsSumToTheNLLAndPatchStartsMatchTheReference() throws {
        var checked = 0
        for directory in Fixtures.modelDirectories {
            let model = try BLTModel(directory: directory)
            let evaluator = try Evaluator(model: model)
            for c in try ReferenceCase.all(directory) {
                let label = "\(URL(fileURLWithPath: directory).lastPathComponent)/\(c.name)"
                let bytes = Array(Tokenizer.decodeBytes(c.ids))
                let scores = try evaluator.byteScores(bytes: bytes, name: c.name)
                XCTAssertEqual(scores.ids, Array(c.ids.dropFirst()), label)
                XCTAssertEqual(scores.surprisalBits.count, c.targets, label)
                // The evaluator's own figures, and the reference's NLL.
                XCTAssertEqual(scores.score, try evaluator.score(bytes: bytes, name: c.name), label)
                let referenceBits = c.nll / M_LN2
                XCTAssertEqual(scores.nllBits, referenceBits, accuracy: 1e-6 * referenceBits, label)
                XCTAssertEqual(scores.nllBits, scores.score.nllNats / M_LN2, accuracy: 1e-12 * referenceBits, label)
                // Patch starts and entropies are the reference's.
                XCTAssertEqual(scores.patchStarts.indices.filter { scores.patchStarts[$0] }, ParsedSVG.patchStarts(c.patchLengths), label)
                XCTAssertEqual(scores.patchStarts.filter { $0 }.count, scores.score.patches, label)
                for (i, entropy) in scores.entropyNats.enumerated() {
                    XCTAssertEqual(entropy, c.entropies[i], accuracy: 1e-4, "\(label) target \(i)")
                }
                XCTAssertEqual(scores.byte(scores.ids.count - 1), nil, "the EOS has no byte")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    func testPerByteScoresFollowTheWindowsOfTheEvaluation() throws {
        let directory = try XCTUnwrap(Fixtures.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let long = try XCTUnwrap(try ReferenceCase.all(directory).first { $0.name == "long" })
        let bytes = Array(long.text.utf8)
        let references = try WindowedReference.all(directory).filter { $0.caseName == "long" }
        for (window, context) in [(48, 8), (64, 0), (10, 7)] {
            let evaluator = try Evaluator(model: model, options: EvalOptions(window: window, context: context, chunkTargets: 37))
            let scores = try evaluator.byteScores(bytes: bytes)
            let score = try evaluator.score(bytes: bytes)
            XCTAssertGreaterThan(score.windows, 1)
            XCTAssertEqual(scores.score, score, "window \(window) context \(context)")
            XCTAssertEqual(scores.surprisalBits.count, long.targets)
            // Bit for bit above: the same passes (the one pass planner). Windows see less history than the
            // reference's single pass, so the reference here is transformers' NLL of each window run alone.
            XCTAssertEqual(scores.nllBits, score.nllNats / M_LN2, accuracy: 1e-12 * scores.nllBits)
            let reference = try XCTUnwrap(references.first { $0.window == window && $0.context == context }, "window \(window) context \(context)")
            for w in reference.windows {
                let bits = scores.surprisalBits[(w.scored.lowerBound - 1) ..< (w.scored.upperBound - 1)].reduce(0, +)
                // At most twice the parity tests' logit bound (2e-4) per target: short windows get no averaging.
                XCTAssertEqual(bits, w.nll / M_LN2, accuracy: 4e-4 / M_LN2 * Double(w.scored.count), "window \(window) context \(context) \(w.scored)")
            }
            XCTAssertEqual(scores.nllBits, reference.nll / M_LN2, accuracy: 1e-5 / M_LN2 * Double(long.targets), "window \(window) context \(context)")
            XCTAssertEqual(scores.patchStarts.filter { $0 }.count, score.patches)
        }
    }

    func testPerByteJSONLineRoundTrips() throws {
        let directory = try XCTUnwrap(Fixtures.modelDirectories.first)
        let evaluator = try Evaluator(model: try BLTModel(directory: directory))
        let utf8 = try XCTUnwrap(try ReferenceCase.all(directory).first { $0.name == "utf8" })
        let scores = try evaluator.byteScores(bytes: Array(utf8.text.utf8))
        let line = scores.jsonLine(document: "doc \"1\"\n\\", index: 7)
        XCTAssertFalse(line.contains("\n"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["document"] as? String, "doc \"1\"\n\\")
        XCTAssertEqual(object["index"] as? Int, 7)
        XCTAssertEqual(object["ids"] as? [Int], utf8.ids.dropFirst().map(Int.init))
        let bytes = try XCTUnwrap(object["bytes"] as? [Any])
        XCTAssertEqual(bytes.dropLast().compactMap { $0 as? Int }, Array(utf8.text.utf8).map(Int.init))
        XCTAssertTrue(bytes.last is NSNull, "the EOS target has no byte")
        let surprisal = try XCTUnwrap(object["surprisal_bits"] as? [Double])
        XCTAssertEqual(surprisal.count, scores.surprisalBits.count)
        for (read, written) in zip(surprisal, scores.surprisalBits) { XCTAssertEqual(read, written, accuracy: 1e-14 * written) }
        // Swift's shortest form reads back exactly (Foundation's JSON reader may be off by an ulp).
        let exact = try JSONValue.parse(Data(line.utf8))["surprisal_bits"].array.compactMap(\.doubleValue)
        XCTAssertEqual(exact, scores.surprisalBits)
        XCTAssertEqual(surprisal.reduce(0, +), utf8.nll / M_LN2, accuracy: 1e-6 * utf8.nll / M_LN2)
        XCTAssertEqual((object["entropy_nats"] as? [Double])?.map(Float.init), scores.entropyNats)
        XCTAssertEqual(object["patch_start"] as? [Bool], scores.patchStarts)
        XCTAssertEqual(object["targets"] as? Int, utf8.targets)
    }
}

import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval

/// `Evaluator.sweep`: each row is the separate run's figures bit for bit, the entropy model's work
/// is shared, and FLOPs follow the formula of Docs/patching.md (checked against a hand count).
final class SweepTests: ScratchTestCase {


    /// Paragraphs of the held-out sample, one JSONL document each.
    func documents() throws -> DocumentReader {
        let sample = try String(contentsOfFile: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
                                    .appendingPathComponent("Models/sample.txt").path, encoding: .utf8)
        let lines = try sample.components(separatedBy: "\n\n").map { paragraph in
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": paragraph]), as: UTF8.self)
        }
        let url = scratch.appendingPathComponent("docs.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return DocumentReader(inputs: [DocumentInput(path: url.path)])
    }

    static func withoutSeconds(_ s: EvalSummary) -> EvalSums {
        var sums = s.sums
        sums.seconds = 0
        return sums
    }

    func testEachRowEqualsASeparateRunBitForBit() throws {
        for name in ["tiny-a", "tiny-b"] {
            let model = try BLTModel(directory: Fixtures.modelDirectory(name))
            let t = model.config.patchingThreshold, m = model.config.maxPatchLength
            var settings: [PatchingScheme] = []
            for threshold: Float in [0.5 * t, t, 2 * t] {
                settings.append(try PatchingScheme(rule: .entropy, threshold: threshold, maxPatchLength: m))
            }
            settings += [
                try PatchingScheme(rule: .monotonic, threshold: 0.5, maxPatchLength: m),
                try PatchingScheme(rule: .entropyMonotonic(thresholdAdd: 0.1), threshold: t, maxPatchLength: m),
                try PatchingScheme(rule: .topK(patchSize: 4), threshold: t, maxPatchLength: m),
                try PatchingScheme(rule: .space, threshold: t, maxPatchLength: m),
                try PatchingScheme(rule: .fixed(patchSize: 3), threshold: t, maxPatchLength: m),
            ]
            for batchBytes in [0, 700, 8192] {
                let options = EvalOptions(window: 256, batchBytes: batchBytes)
                let rows = try Evaluator(model: model, options: options).sweep(try documents(), settings: settings)
                XCTAssertEqual(rows.count, settings.count)
                for (row, scheme) in zip(rows, settings) {
                    var alone = options
                    alone.patching = scheme
                    let evaluator = try Evaluator(model: model, options: alone)
                    let separate = try evaluator.run(try documents())
                    XCTAssertEqual(Self.withoutSeconds(row.summary), Self.withoutSeconds(separate), "\(name) \(scheme) batch \(batchBytes)")
                    XCTAssertEqual(row.summary.settings, separate.settings)
                    XCTAssertEqual(row.compute, evaluator.compute, "\(name) \(scheme)")
                    XCTAssertGreaterThan(row.summary.sums.documents, 0)
                }
                // Different settings do patch differently (the sweep is not one run repeated).
                XCTAssertGreaterThan(Set(rows.map(\.summary.sums.patches)).count, 3)
            }
        }
    }

    /// ComputeCount.forward on tiny-a's shapes, counted by hand (Docs/patching.md's formula):
    /// 10 ids, 4 patches. Entropy model (d 16, 2 layers, SwiGLU 40, window 32): per layer
    /// 2·10·16·(64 + 120) = 58,880 for the products and 4·16·55 = 3,520 for attention (keys 1+…+10),
    /// so 2 · 62,400 + LM head 2·10·16·260 = 83,200 → 208,000. Encoder (1 layer, window 24): 62,400,
    /// patch projection 2·4·16·32 = 4,096, cross-attention q,o 2·8·16·32 = 8,192 + k,v 2·10·16·32 =
    /// 10,240 + attention 4·16·20 = 1,280 → 86,208. Global (d 32, 2 layers, SwiGLU 64, 4 rows):
    /// 2 · (2·4·32·(128 + 192) + 4·32·10) = 166,400. Decoder: patch projection 2·4·32·32 = 8,192,
    /// 2 cross-attentions of 10,240 + 8,192 + 1,280 = 39,424, 2 layers 124,800, LM head 83,200 →
    /// 255,616.
    func testFlopsEqualAHandCountOnTinyA() throws {
        let config = try BLTConfig(contentsOf: Fixtures.modelDirectory("tiny-a") + "/config.json")
        let count = ComputeCount.forward(config, ids: 10, patches: 4, entropyModel: true)
        XCTAssertEqual(count.entropyModel, 208_000)
        XCTAssertEqual(count.localEncoder, 86_208)
        XCTAssertEqual(count.globalTransformer, 166_400)
        XCTAssertEqual(count.localDecoder, 255_616)
        XCTAssertEqual(count.total, 716_224)
        XCTAssertEqual(ComputeCount.forward(config, ids: 10, patches: 4, entropyModel: false).entropyModel, 0)
        // The sliding window: 40 queries, window 32 → 1+…+32 + 8·32 = 784 keys.
        XCTAssertEqual(ComputeCount.causalKeys(rows: 40, window: 32), 784)
        XCTAssertEqual(ComputeCount.causalKeys(rows: 10, window: nil), 55)
    }

    /// A one-document run counts exactly the forward pass of transformers' own patches.
    func testRunCountsItsPassesFromTheReferencePatches() throws {
        let directory = Fixtures.modelDirectory("tiny-a")
        let model = try BLTModel(directory: directory)
        let evaluator = try Evaluator(model: model)
        var checked = 0
        for c in try ReferenceCase.all(directory) where c.ids.last == Tokenizer.eosID && c.ids.count <= evaluator.window {
            let url = scratch.appendingPathComponent("case.txt")
            try Data(c.text.utf8).write(to: url)
            guard Tokenizer.encode(Array(c.text.utf8)) == c.ids else { continue }
            let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: url.path)]))
            XCTAssertEqual(summary.sums.documents, 1)
            XCTAssertEqual(evaluator.compute, ComputeCount.forward(model.config, ids: c.ids.count, patches: c.patchLengths.count, entropyModel: true), c.name)
            // One pass: every matrix of tiny-a once (192,512 bytes of f32) and 320 bytes of embedding rows per id
            // (WorkCountTests counts both by hand); the sums record the same.
            XCTAssertEqual(evaluator.work.weightBytesRead, Double(192_512 + 320 * c.ids.count), c.name)
            XCTAssertEqual(summary.sums.weightBytesRead, evaluator.work.weightBytesRead, c.name)
            XCTAssertEqual(summary.sums.flops, evaluator.compute.total, c.name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 2)
    }
}

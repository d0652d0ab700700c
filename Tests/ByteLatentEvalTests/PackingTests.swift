import Foundation
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval

/// Packed forward passes (many documents/windows in one pass) against one pass per document, on
/// every fixture model. The one-at-a-time path is the one the reference-parity tests pin to
/// transformers; packing must not change what any document gets.
final class PackingTests: XCTestCase {
    static var modelDirectories: [String] { Fixtures.modelDirectories }

    /// Fixture texts plus the awkward ones (`ReferenceCase.packingDocuments`).
    static func documents(_ directory: String) throws -> [[UInt8]] { try ReferenceCase.packingDocuments(directory) }

    static func name(_ directory: String) -> String { URL(fileURLWithPath: directory).lastPathComponent }

    /// |a − b| ≤ 1e-6 · max(|a|, |b|, 1e-3) (fp32 reassociation is the only difference allowed).
    func assertClose(_ a: Double, _ b: Double, _ label: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(abs(a), abs(b), 1e-3)
        XCTAssertLessThanOrEqual(abs(a - b), 1e-6 * scale, "\(label()): \(a) vs \(b)", file: file, line: line)
    }

    /// Intermediate states: within 1e-5 of the buffer's largest magnitude (fp32 GEMMs of another
    /// height round differently; the per-document NLLs are held to 1e-6 relative).
    func assertClose(_ a: [Float], _ b: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        guard a.count == b.count else { return }
        let scale = max(a.map { abs($0) }.max() ?? 0, 1e-3)
        var worst: Float = 0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
        XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "\(label): largest difference \(worst) (scale \(scale))", file: file, line: line)
    }

    // MARK: Model: every stage of a packed pass equals the sequence's own pass

    func testPackedForwardMatchesOneSequenceAtATimeInEveryStage() throws {
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            // Sequences as the evaluator feeds them: BOS + bytes (+ EOS), including a 1-byte one and
            // ones with a zero-length trailing patch (tiny-a, tiny-c) or split patches (tiny-b, tiny-d).
            let sequences = try Self.documents(directory).filter { !$0.isEmpty }.prefix(12).map { Tokenizer.encode($0) }
                + [[Tokenizer.bosID, Tokenizer.eosID], Tokenizer.encode(Array("xy".utf8), addEOS: false)]
            let packed = try model.forward(batch: Array(sequences))
            XCTAssertEqual(packed.count, sequences.count)
            for (s, ids) in sequences.enumerated() {
                let alone = try model.forward(ids)
                let label = "\(Self.name(directory)) sequence \(s) (\(ids.count) ids)"
                XCTAssertEqual(packed[s].patchLengths, alone.patchLengths, label)
                assertClose(packed[s].embeddings, alone.embeddings, label + " embeddings")
                assertClose(packed[s].encoderStates, alone.encoderStates, label + " encoder states")
                assertClose(packed[s].encoderPatches, alone.encoderPatches, label + " encoder patches")
                assertClose(packed[s].globalStates, alone.globalStates, label + " global states")
                assertClose(packed[s].decoderStates, alone.decoderStates, label + " decoder states")
                assertClose(packed[s].logits, alone.logits, label + " logits")
            }
            let entropies = try model.entropies(batch: Array(sequences))
            for (s, ids) in sequences.enumerated() {
                assertClose(entropies[s], try model.entropies(ids), "\(Self.name(directory)) entropies \(s)")
            }
        }
    }

    func testPatchDecisionsNearTheThresholdAreTheOneAtATimeDecisions() throws {
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            let sequences = try Self.documents(directory).filter { !$0.isEmpty }.prefix(8).map { Tokenizer.encode($0) }
            // Thresholds exactly at entropies of the sequences alone: the packed pass's entropies
            // there may differ in the last bits, the decisions must not.
            let alone = try sequences.map { try model.entropies($0) }
            for (s, h) in alone.enumerated() where h.count > 4 {
                for t in [h[h.count / 2], h[h.count - 1]] {
                    let packed = try model.patchLengths(batch: sequences, scheme: PatchingScheme(threshold: t, maxPatchLength: model.config.maxPatchLength))
                    XCTAssertEqual(packed[s], model.patchLengths(entropies: h, threshold: t), "\(Self.name(directory)) sequence \(s) threshold \(t)")
                }
                // The monotonic rules compare differences of neighbours: a threshold exactly at one.
                let rise = h[h.count / 2] - h[h.count / 2 - 1]
                for scheme in [try PatchingScheme(rule: .monotonic, threshold: rise, maxPatchLength: model.config.maxPatchLength),
                               try PatchingScheme(rule: .entropyMonotonic(thresholdAdd: rise), threshold: 0, maxPatchLength: model.config.maxPatchLength)] {
                    let packed = try model.patchLengths(batch: sequences, scheme: scheme)
                    XCTAssertEqual(packed[s], try scheme.patchLengths(ids: sequences[s], entropies: h), "\(Self.name(directory)) sequence \(s) \(scheme)")
                }
            }
        }
    }

    func testZeroLengthTrailingPatchAttendsOnlyToItsOwnSequence() throws {
        // A zero-length patch's encoder cross-attention is uniform over its sequence's bytes; in a
        // packed pass that must not take in the bytes of the other sequences.
        var found = false
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            for c in try ReferenceCase.all(directory) where c.patchLengths.last == 0 {
                found = true
                let filler = Tokenizer.encode(Array("zzzz qqqq".utf8))
                let packed = try model.forward(batch: [filler, c.ids, filler])
                let alone = try model.forward(c.ids)
                assertClose(packed[1].encoderPatches, alone.encoderPatches, "\(Self.name(directory))/\(c.name)")
                assertClose(packed[1].globalStates, alone.globalStates, "\(Self.name(directory))/\(c.name)")
            }
        }
        XCTAssertTrue(found, "no fixture case ends with a zero-length patch")
    }

    func testPackedPassRejectsBadInput() throws {
        let model = try BLTModel(directory: try XCTUnwrap(Self.modelDirectories.first))
        XCTAssertThrowsError(try model.forward(batch: []))
        XCTAssertThrowsError(try model.forward(batch: [[1, 9], []]))
        XCTAssertThrowsError(try model.forward(batch: [[1, 9], [1, 300]]))
        XCTAssertThrowsError(try model.forward(batch: [[1, 9, 10]], patchLengths: [[1, 2], [1]]))
        XCTAssertThrowsError(try model.forward(batch: [[1, 9, 10]], patchLengths: [[2, 1]]))
    }

    // MARK: Evaluator: per-document results packed and unpacked

    func testPackedScoresEqualOneDocumentAtATimeOnEveryModel() throws {
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            let documents = try Self.documents(directory)
            let longest = documents.map(\.count).max()! + 2
            // The default window (every document fits) and windows shorter than some documents,
            // with and without context.
            for (window, context) in [(nil, 0), (40, 0), (40, 12), (9, 3)] as [(Int?, Int)] {
                // (The 9-id windows leave out the longest document: hundreds of passes in a debug build.)
                let documents = window == 9 ? documents.filter { $0.count < 300 } : documents
                let unpacked = try Evaluator(model: model, options: EvalOptions(window: window, context: context, batchBytes: 0))
                let expected = try documents.map { try unpacked.score(bytes: $0) }
                for budget in [64, 100_000] {
                    let packed = try Evaluator(model: model, options: EvalOptions(window: window, context: context, batchBytes: budget))
                    let scores = try packed.score(documents: documents)
                    XCTAssertEqual(scores.count, documents.count)
                    for (i, (got, want)) in zip(scores, expected).enumerated() {
                        let label = "\(Self.name(directory)) window \(window.map(String.init) ?? "default") context \(context) batch \(budget) document \(i) (\(documents[i].count) bytes)"
                        XCTAssertEqual(got.targets, want.targets, label)
                        XCTAssertEqual(got.bytes, want.bytes, label)
                        XCTAssertEqual(got.patches, want.patches, label)
                        XCTAssertEqual(got.windows, want.windows, label)
                        assertClose(got.nllNats, want.nllNats, label)
                        XCTAssertEqual(got.chunks.map(\.targets), want.chunks.map(\.targets), label)
                        for (a, b) in zip(got.chunks, want.chunks) { assertClose(a.bits, b.bits, label + " chunk") }
                    }
                }
            }
            XCTAssertGreaterThan(longest, 40, "some documents must be longer than the short windows")
        }
    }

    func testPackedRunKeepsInputOrderEmptyLinesAndBadLines() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-packing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for directory in Self.modelDirectories {
            let documents = try Self.documents(directory).map { String(decoding: $0, as: UTF8.self) }
            var lines = documents.map { text in
                String(decoding: try! JSONSerialization.data(withJSONObject: ["text": text]), as: UTF8.self)
            }
            lines.insert("", at: 3)                 // a blank line: not a document
            lines.insert("{\"text\": 7}", at: 6)    // a bad line, skipped and counted
            lines.insert("   ", at: 9)
            let path = scratch.appendingPathComponent("\(Self.name(directory)).jsonl").path
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
            let plain = scratch.appendingPathComponent("plain.txt").path
            try Data(documents[0].utf8).write(to: URL(fileURLWithPath: plain))
            let inputs = [DocumentInput(path: path), DocumentInput(path: plain)]
            let model = try BLTModel(directory: directory)

            var perByte: [(Document, ByteScores)] = []
            func run(_ budget: Int, shard: Shard = .whole, keepingBytes: Bool = false) throws -> (EvalSummary, [BadLine]) {
                var skipped: [BadLine] = []
                let evaluator = try Evaluator(model: model, options: EvalOptions(window: 48, context: 8, keepPerDocument: true, batchBytes: budget))
                let summary = try evaluator.run(DocumentReader(inputs: inputs, skipBadLines: true), shard: shard, badLine: { skipped.append($0) },
                                                byteScores: keepingBytes ? { perByte.append(($0, $1)) } : nil)
                return (summary, skipped)
            }
            let (single, singleBad) = try run(0)
            let label = Self.name(directory)
            for budget in [50, 500, 100_000] {
                let (packed, packedBad) = try run(budget)
                XCTAssertEqual(packedBad, singleBad, label)
                XCTAssertEqual(packed.sums.skippedBadLines, 1, label)
                XCTAssertEqual(packed.sums.skippedEmpty, single.sums.skippedEmpty, label)
                XCTAssertEqual(packed.sums.documents, single.sums.documents, label)
                XCTAssertEqual(packed.sums.targets, single.sums.targets, label)
                XCTAssertEqual(packed.sums.patches, single.sums.patches, label)
                XCTAssertEqual(packed.sums.windows, single.sums.windows, label)
                assertClose(packed.nllNats, single.nllNats, label)
                let got = try XCTUnwrap(packed.perDocument), want = try XCTUnwrap(single.perDocument)
                XCTAssertEqual(got.map(\.index), want.map(\.index), "input order: \(label)")
                XCTAssertEqual(got.map(\.index), got.map(\.index).sorted(), label)
                XCTAssertEqual(got.map(\.name), want.map(\.name), label)
                for (a, b) in zip(got, want) {
                    XCTAssertEqual(a.targets, b.targets, label)
                    XCTAssertEqual(a.patches, b.patches, label)
                    assertClose(a.nllNats, b.nllNats, "\(label) \(a.name)")
                }
            }
            // Shards of a packed run own whole groups of passes, so they compute exactly the whole
            // run's passes and merge to its figures bit for bit, NLLs included.
            let (whole, _) = try run(100)
            // Per-byte details come from the same passes: they change no figure of the run.
            var withBytes = try run(100, keepingBytes: true).0, withoutBytes = whole
            withBytes.sums.seconds = 0; withoutBytes.sums.seconds = 0
            XCTAssertEqual(withBytes.sums, withoutBytes.sums, "per-byte run, bit for bit: \(label)")
            XCTAssertEqual(withBytes.perDocument, whole.perDocument, label)
            XCTAssertEqual(perByte.map(\.1.score.nllNats), whole.perDocument?.map(\.nllNats), label)
            XCTAssertEqual(perByte.map(\.0.ordinal), whole.perDocument?.map(\.index), label)
            for (document, scores) in perByte {
                XCTAssertEqual(scores.ids.count, scores.score.targets, "\(label) \(document.name)")
                XCTAssertEqual(Tokenizer.decodeBytes(scores.ids), document.bytes, "\(label) \(document.name)")
                XCTAssertEqual(scores.surprisalBits.reduce(0, +), scores.score.nllNats / M_LN2, accuracy: 1e-12 * scores.score.nllNats)
            }
            // Shards merge to the whole run bit for bit, whether or not each kept per-byte details.
            let parts = try (0..<3).map { try run(100, shard: Shard(index: $0, count: 3), keepingBytes: $0 == 1).0 }
            XCTAssertTrue(parts.allSatisfy { $0.sums.documents > 0 }, "every shard scores something: \(label)")
            let merged = try EvalSummary.merge(parts)
            var mergedSums = merged.sums, wholeSums = whole.sums
            mergedSums.seconds = 0; wholeSums.seconds = 0
            XCTAssertEqual(mergedSums, wholeSums, "exact sums and moments bit for bit: \(label)")
            XCTAssertEqual(merged.nllNats, whole.nllNats, label)
            XCTAssertEqual(merged.perDocument, whole.perDocument, label)
            // Shards packed with another budget own other documents: merging them is refused.
            let other = try run(50, shard: Shard(index: 1, count: 3)).0
            XCTAssertThrowsError(try EvalSummary.merge([parts[0], other, parts[2]])) { error in
                XCTAssertTrue("\(error)".contains("batch_bytes"), "\(error)")
            }
            XCTAssertEqual(merged.sums.documents, whole.sums.documents, label)
            XCTAssertEqual(merged.sums.targets, whole.sums.targets, label)
            XCTAssertEqual(merged.sums.bytes, whole.sums.bytes, label)
            XCTAssertEqual(merged.sums.patches, whole.sums.patches, label)
            XCTAssertEqual(merged.sums.windows, whole.sums.windows, label)
            XCTAssertEqual(merged.sums.skippedEmpty, whole.sums.skippedEmpty, label)
            XCTAssertEqual(merged.sums.skippedBadLines, whole.sums.skippedBadLines, label)
            XCTAssertEqual(merged.perDocument?.map(\.index), whole.perDocument?.map(\.index), label)
        }
    }

    func testBatchBudgetGroupsConsecutiveWindows() throws {
        let bytes = [UInt8](repeating: 65, count: 30)
        let work = try DocumentWork(Document(ordinal: 0, name: "d", bytes: bytes, inputRange: 0..<30),
                                    ids: Tokenizer.encode(bytes), window: 10, context: 0, keepDetails: false)
        XCTAssertEqual(work.plan.count, 4)   // 32 ids: 10 + (1 + 9) + (1 + 9) + (1 + 4)
        var batcher = Batcher(budget: 21)
        var batches: [Batch] = []
        for w in work.plan.indices { if let b = batcher.add(.window(work, w)) { batches.append(b) } }
        if let b = batcher.flush() { batches.append(b) }
        XCTAssertEqual(batches.map(\.idCount), [20, 15])
        XCTAssertEqual(batches.map(\.sequences.count), [2, 2])
        // A window longer than the budget runs alone; 0 means one window per pass.
        var single = Batcher(budget: 0)
        var count = 0
        for w in work.plan.indices where single.add(.window(work, w)) != nil { count += 1 }
        if single.flush() != nil { count += 1 }
        XCTAssertEqual(count, 4)
    }

    func testScoreDocumentsKeepsOrderWithUnscoredDocuments() throws {
        // Without EOS an empty document has no target and no window; it keeps its place.
        let model = try BLTModel(directory: try XCTUnwrap(Self.modelDirectories.first))
        let evaluator = try Evaluator(model: model, options: EvalOptions(addEOS: false))
        let documents: [[UInt8]] = [Array("abc".utf8), [], Array("de".utf8), [], Array("f".utf8)]
        let scores = try evaluator.score(documents: documents)
        XCTAssertEqual(scores.map(\.targets), [3, 0, 2, 0, 1])
        XCTAssertEqual(scores.map(\.windows), [1, 0, 1, 0, 1])
        XCTAssertEqual(scores.map(\.bytes), [3, 0, 2, 0, 1])
        for (document, score) in zip(documents, scores) {
            assertClose(score.nllNats, try evaluator.score(bytes: document).nllNats, "\(document)")
        }
    }

    func testNegativeBatchSizeIsAnError() throws {
        let model = try BLTModel(directory: try XCTUnwrap(Self.modelDirectories.first))
        XCTAssertThrowsError(try Evaluator(model: model, options: EvalOptions(batchBytes: -1))) {
            XCTAssertEqual($0 as? EvalError, .badBatchSize(-1))
        }
    }
}

extension PackingTests {
    /// The examples of Docs/library.md ("Scoring many documents at once"), run on the bundled model.
    func testLibraryExample() throws {
        let root = Fixtures.repository
        let model = try BLTModel(directory: root.appendingPathComponent("Models/blt-tiny").path)
        let evaluator = try Evaluator(model: model, options: EvalOptions(batchBytes: 8192))   // the default
        let texts = ["The first document.", "A second, longer one.", "x"]
        let scores = try evaluator.score(documents: texts.map { Array($0.utf8) })   // one DocumentScore per document, in order
        XCTAssertEqual(scores.map(\.targets), texts.map { $0.utf8.count + 1 })
        for (text, score) in zip(texts, scores) {
            let alone = try evaluator.score(bytes: Array(text.utf8))
            XCTAssertEqual(score.patches, alone.patches)
            assertClose(score.nllNats, alone.nllNats, text)
        }
        let batch = texts.map { Tokenizer.encode($0) }
        let passes = try model.forward(batch: batch)                  // [BLTModel.Forward], every stage per sequence
        let logits = try model.logits(batch: batch)                   // [[Float]], [ids.count × 260] each
        let patches = try model.patchLengths(batch: batch)            // each sequence's own patches
        let entropies = try model.entropies(batch: batch)             // one packed pass of the entropy model
        for (s, ids) in batch.enumerated() {
            XCTAssertEqual(passes[s].logits, logits[s])   // the same packed pass, bit for bit
            // Exact: an entropy near the threshold is recomputed alone before the decision (thresholdRecheckMargin).
            XCTAssertEqual(patches[s], try model.patchLengths(ids))
            XCTAssertEqual(entropies[s].count, ids.count)
            assertClose(logits[s], try model.logits(ids), "sequence \(s)")
        }
    }
}

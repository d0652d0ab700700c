import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

final class GenerationTests: XCTestCase {
    /// Greedy ids of transformers running the full forward on the whole prefix at every step
    /// (the fixtures' "generation" entries) must equal ours, made incrementally with caches.
    func testGreedyGenerationMatchesTransformersFullRecompute() throws {
        var checked = 0
        for directory in ReferenceParityTests.modelDirectories {
            let model = try BLTModel(directory: directory)
            for run in try Self.referenceGenerations(in: directory) {
                let generator = try ByteGenerator(model: model, prompt: run.prompt, maxNewIDs: run.generated.count, stopAtEOS: false)
                XCTAssertEqual(Array(generator), run.generated, "\(directory): prompt \(run.text)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2 * ReferenceParityTests.modelNames.count, "generation fixtures checked")
    }

    /// The fixture's two greedy continuations by transformers ("generation" in expected.json): the
    /// prompt's ids, the prompt as text and the 72 ids generated. Fails the calling test when the
    /// fixture has fewer runs or empty lists (which would compare equal to an empty generation).
    static func referenceGenerations(in directory: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> [(prompt: [Int32], text: String, generated: [Int32])] {
        let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
        let runs = expected["generation"].array.map {
            (prompt: $0["prompt_ids"].ints.map(Int32.init), text: $0["prompt"].string ?? "", generated: $0["generated_ids"].ints.map(Int32.init))
        }
        XCTAssertEqual(runs.count, 2, "generation runs in \(directory)/expected.json", file: file, line: line)
        for run in runs {
            XCTAssertFalse(run.prompt.isEmpty, "prompt_ids missing in \(directory)/expected.json", file: file, line: line)
            XCTAssertEqual(run.generated.count, 72, "generated_ids missing or short in \(directory)/expected.json", file: file, line: line)
        }
        return runs
    }

    /// The incremental path against our own full forward at every step, on every fixture model:
    /// the entropies, patches and logits must agree (not only the argmax).
    func testIncrementalStateEqualsFullForward() throws {
        try assertIncrementalStateEqualsFullForward(precision: .float32, logitTolerance: 1e-4)
    }

    /// Under bf16 precision keys and values are bf16 wherever attention reads them (the caches
    /// store them rounded, a pass rounds its own), so incremental decoding agrees with the full
    /// forward at bf16 precision as it does at fp32: the same patches, and next-byte logits within
    /// what the different sum orders of one-row and many-row products leave (up to 0.03 on these
    /// models at fp32 caches too).
    func testBF16IncrementalStateEqualsBF16FullForward() throws {
        try assertIncrementalStateEqualsFullForward(precision: .bfloat16, logitTolerance: 0.05)
    }

    /// 40 greedy steps after a prompt on every fixture model at `precision`; every 7th step (and
    /// the last) the state's patches and next-byte logits against the full forward over its ids.
    private func assertIncrementalStateEqualsFullForward(precision: Precision, logitTolerance: Float,
                                                         file: StaticString = #filePath, line: UInt = #line) throws {
        for directory in ReferenceParityTests.modelDirectories {
            let model = try BLTModel(directory: directory, precision: precision)
            let prompt = Tokenizer.encode("def f(x):\n    return", addEOS: false)
            let generator = try ByteGenerator(model: model, prompt: prompt, maxNewIDs: 40, stopAtEOS: false)
            var step = 0
            while generator.next() != nil {
                step += 1
                if step % 7 != 0 && step != 40 { continue }
                let logits = generator.nextLogits   // the last sampled id joins the state here
                let ids = generator.ids, full = try model.forward(ids)
                XCTAssertEqual(generator.patchLengths, full.patchLengths, "\(directory) \(precision) step \(step)", file: file, line: line)
                let last = Array(full.logits[(ids.count - 1) * 260 ..< ids.count * 260])
                let worst = zip(last, logits).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, logitTolerance, "\(directory) \(precision) step \(step)", file: file, line: line)
            }
        }
    }

    /// The model's incremental state on its own, on every fixture case of at least 8 ids: the first
    /// half prefilled, three ids stepped one at a time, the rest appended in one pass on a copy.
    /// The appended rows (the last old position's included) equal transformers' full forward over
    /// the whole case, and so do the prefix rows wherever the whole case gives the prefix's last
    /// byte the same decoder patch: with `max_patch_length` a patch cut at the prefix's end can
    /// move the boundary after it, and then transformers' forward over the prefix differs from its
    /// forward over the case (`testIncrementalStateEqualsFullForward` covers those rows). The copy
    /// leaves the original unchanged.
    func testIncrementalStateMatchesTransformersLogits() throws {
        var cases = 0, prefixRows = 0
        for directory in ReferenceParityTests.modelDirectories {
            let model = try BLTModel(directory: directory)
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            let tensors = try SafetensorsFile(path: directory + "/expected.safetensors")
            let label = URL(fileURLWithPath: directory).lastPathComponent
            for c in ReferenceParityTests.cases(expected) where c.ids.count >= 8 {
                let reference = try tensors.tensor(c.logitsName).floats()
                XCTAssertEqual(reference.count, c.ids.count * 260, "\(label)/\(c.name) logits")
                func rows(_ positions: Range<Int>) -> [Float] { Array(reference[positions.lowerBound * 260 ..< positions.upperBound * 260]) }
                func assertClose(_ ours: [Float], _ theirs: [Float], _ what: String) {
                    XCTAssertEqual(ours.count, theirs.count, "\(label)/\(c.name) \(what)")
                    XCTAssertLessThan(zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity, 2e-4, "\(label)/\(c.name) \(what)")
                }
                let wholeDecoderPatches = Patching.decoderPatchIDs(lengths: c.patchLengths, count: c.ids.count)
                let state = IncrementalState(model: model)
                /// Checks `nextLogits` of the state's prefix against the whole case's row when comparable.
                func checkPrefixRow(_ what: String) {
                    let t = state.ids.count - 1
                    guard Patching.decoderPatchIDs(lengths: state.patchLengths, count: t + 1)[t] == wholeDecoderPatches[t] else { return }
                    assertClose(state.nextLogits, rows(t ..< t + 1), what)
                    prefixRows += 1
                }
                let prompt = c.ids.count / 2, stepped = prompt + 3
                try state.prefill(Array(c.ids[..<prompt]))
                checkPrefixRow("after prefill")
                for t in prompt..<stepped {
                    XCTAssertEqual(try state.step(c.ids[t]), state.nextLogits)
                    checkPrefixRow("step \(t)")
                }
                let copy = state.copy()
                let rest = try copy.logits(appending: Array(c.ids[stepped...]))
                assertClose(rest, rows(stepped - 1 ..< c.ids.count), "appended rows")
                XCTAssertEqual(copy.patchLengths, c.patchLengths, "\(label)/\(c.name)")
                XCTAssertLessThan(zip(copy.entropies, c.entropies).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, "\(label)/\(c.name)")
                XCTAssertTrue(state.ids == Array(c.ids[..<stepped]), "\(label)/\(c.name): the copy changed the original")
                XCTAssertTrue(try state.logits(appending: Array(c.ids[stepped...])) == rest, "\(label)/\(c.name): the original, continued after the copy")
                cases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 3 * ReferenceParityTests.modelNames.count, "cases checked")
        XCTAssertGreaterThanOrEqual(prefixRows, 2 * cases, "prefix rows checked")
        print("IncrementalState: \(cases) cases, \(prefixRows) prefix rows of \(4 * cases) against transformers")
    }

    func testSeededSamplingIsReproducible() throws {
        let directory = try XCTUnwrap(ReferenceParityTests.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let prompt = Tokenizer.encode("Once upon a time", addEOS: false)
        func run(_ seed: UInt64) throws -> [Int32] {
            Array(try ByteGenerator(model: model, prompt: prompt,
                                sampling: SamplingOptions(temperature: 1.0, topK: 40, seed: seed), maxNewIDs: 48, stopAtEOS: false))
        }
        XCTAssertEqual(try run(7), try run(7))
        XCTAssertNotEqual(try run(7), try run(8))
        let nucleus = Array(try ByteGenerator(model: model, prompt: prompt, sampling: SamplingOptions(temperature: 0.8, topP: 0.9, seed: 3),
                                          maxNewIDs: 32, stopAtEOS: false))
        XCTAssertEqual(nucleus.count, 32)
    }

    func testPromptLongerThanTheModelIsAClearError() throws {
        let directory = try XCTUnwrap(ReferenceParityTests.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let tooLong = [Int32](repeating: 50, count: model.config.patcher.maxPositions + 1)
        XCTAssertThrowsError(try ByteGenerator(model: model, prompt: tooLong)) { error in
            XCTAssertTrue("\(error)".contains("shorten the prompt"), "\(error)")
        }
    }
}

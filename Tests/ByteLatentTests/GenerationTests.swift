import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent

final class GenerationTests: XCTestCase {
    /// Greedy ids of transformers running the full forward on the whole prefix at every step
    /// (the fixtures' "generation" entries) must equal ours, made incrementally with caches.
    func testGreedyGenerationMatchesTransformersFullRecompute() throws {
        var checked = 0
        for directory in ReferenceParityTests.modelDirectories {
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            let model = try BLTModel(directory: directory)
            let runs = expected["generation"].array
            XCTAssertEqual(runs.count, 2, "generation runs in \(directory)/expected.json")
            for run in runs {
                let prompt = run["prompt_ids"].ints.map(Int32.init)
                let reference = run["generated_ids"].ints.map(Int32.init)
                // An empty or missing list would compare equal to an empty generation.
                XCTAssertFalse(prompt.isEmpty, "prompt_ids missing in \(directory)/expected.json")
                XCTAssertEqual(reference.count, 72, "generated_ids missing or short in \(directory)/expected.json")
                let generator = try Generator(model: model, prompt: prompt, maxNewIDs: reference.count, stopAtEOS: false)
                let generated = Array(generator)
                XCTAssertEqual(generated, reference, "\(directory): prompt \(run["prompt"].string ?? "")")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2 * ReferenceParityTests.modelNames.count, "generation fixtures checked")
    }

    /// The incremental path against our own full forward at every step, on every fixture model:
    /// the entropies, patches and logits must agree (not only the argmax).
    func testIncrementalStateEqualsFullForward() throws {
        for directory in ReferenceParityTests.modelDirectories {
            let model = try BLTModel(directory: directory)
            let prompt = Tokenizer.encode("def f(x):\n    return", addEOS: false)
            let generator = try Generator(model: model, prompt: prompt, maxNewIDs: 40, stopAtEOS: false)
            var step = 0
            while generator.next() != nil {
                step += 1
                if step % 7 != 0 && step != 40 { continue }
                let logits = generator.nextLogits
                let ids = generator.ids
                let full = try model.forward(ids)
                XCTAssertEqual(generator.patchLengths, full.patchLengths, "\(directory) step \(step)")
                let last = Array(full.logits[(ids.count - 1) * 260 ..< ids.count * 260])
                let worst = zip(last, logits).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4, "\(directory) step \(step)")
            }
        }
    }

    func testSeededSamplingIsReproducible() throws {
        let directory = try XCTUnwrap(ReferenceParityTests.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let prompt = Tokenizer.encode("Once upon a time", addEOS: false)
        func run(_ seed: UInt64) throws -> [Int32] {
            Array(try Generator(model: model, prompt: prompt,
                                sampling: SamplingOptions(temperature: 1.0, topK: 40, seed: seed), maxNewIDs: 48, stopAtEOS: false))
        }
        XCTAssertEqual(try run(7), try run(7))
        XCTAssertNotEqual(try run(7), try run(8))
        let nucleus = Array(try Generator(model: model, prompt: prompt, sampling: SamplingOptions(temperature: 0.8, topP: 0.9, seed: 3),
                                          maxNewIDs: 32, stopAtEOS: false))
        XCTAssertEqual(nucleus.count, 32)
    }

    func testPromptLongerThanTheModelIsAClearError() throws {
        let directory = try XCTUnwrap(ReferenceParityTests.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let tooLong = [Int32](repeating: 50, count: model.config.patcher.maxPositions + 1)
        XCTAssertThrowsError(try Generator(model: model, prompt: tooLong)) { error in
            XCTAssertTrue("\(error)".contains("shorten the prompt"), "\(error)")
        }
    }
}

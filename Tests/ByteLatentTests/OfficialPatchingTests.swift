import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// Every patching rule against the official facebookresearch/blt patcher: the expected lengths in
/// `official-patching.json` were computed by running the official `Patcher.patch` on the fixture
/// ids and entropies (`Converters/reference/make_patching_vectors.py`).
final class OfficialPatchingTests: XCTestCase {
    struct Case {
        var json: JSONValue
        var sequence: String
        var ids: [Int32]
        var entropies: [Float]
        var scheme: PatchingScheme
        var includeNextToken: Bool
        var expected: [Int]?   // nil: the official code refuses the input
    }

    static func cases() throws -> [Case] {
        let fixture = try Fixtures.json("official-patching.json")
        let sequences = fixture["sequences"]
        return try fixture["cases"].array.map { (c: JSONValue) -> Case in
            let entry: JSONValue? = c
            let name = try XCTUnwrap(entry["sequence"].string)
            let rule: PatchingRule
            switch try XCTUnwrap(entry["rule"].string) {
            case "entropy": rule = .entropy
            case "monotonic": rule = .monotonic
            case "entropy+monotonic": rule = .entropyMonotonic(thresholdAdd: Float(try XCTUnwrap(entry["threshold_add"].double)))
            case "topk": rule = .topK(patchSize: try XCTUnwrap(entry["patch_size"].int))
            case "static": rule = .fixed(patchSize: try XCTUnwrap(entry["patch_size"].int))
            case "space": rule = .space
            case let other: throw BLTError.invalidInput("unknown rule \(other) in the fixture")
            }
            let scheme = try PatchingScheme(rule: rule, threshold: Float(entry["threshold"].double ?? 1), maxPatchLength: entry["max_patch_length"].int)
            return Case(json: c, sequence: name, ids: sequences[name]["ids"].ints.map(Int32.init), entropies: sequences[name]["entropies"].floats,
                        scheme: scheme, includeNextToken: entry["include_next_token"]?.boolValue ?? false,
                        expected: entry["patch_lengths"] == nil ? nil : entry["patch_lengths"].ints)
        }
    }

    func testEveryRuleMatchesTheOfficialPatcher() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThan(cases.count, 800)
        var byRule: [String: Int] = [:]
        for c in cases {
            XCTAssertEqual(c.ids.count, c.entropies.count)
            let label = "\(c.sequence) \(c.scheme) include_next_token \(c.includeNextToken)"
            // Space and static read no entropies: give none, as the engine does.
            let entropies = c.scheme.rule.needsEntropies ? c.entropies : []
            if let expected = c.expected {
                XCTAssertEqual(try c.scheme.officialPatchLengths(ids: c.ids, entropies: entropies, includeNextToken: c.includeNextToken),
                               expected, label)
                byRule[c.scheme.rule.name, default: 0] += 1
            } else {
                XCTAssertThrowsError(try c.scheme.officialPatchLengths(ids: c.ids, entropies: entropies, includeNextToken: c.includeNextToken), label)
            }
        }
        XCTAssertEqual(Set(byRule.keys), ["entropy", "monotonic", "entropy+monotonic", "topk", "space", "static"])
    }

    /// The engine's layout (transformers'): the official include_next_token lengths with the last
    /// patch's unseen next slot taken off (an empty trailing patch when it held only that slot).
    func testEngineLayoutIsTheOfficialLayoutWithoutTheNextSlot() throws {
        for c in try Self.cases() where c.includeNextToken && c.scheme.maxPatchLength == nil {
            guard var expected = c.expected else { continue }
            expected[expected.count - 1] -= 1
            let entropies = c.scheme.rule.needsEntropies ? c.entropies : []
            XCTAssertEqual(try c.scheme.patchLengths(ids: c.ids, entropies: entropies), expected, "\(c.sequence) \(c.scheme)")
        }
    }

    func testTopKRefusesTooShortSequencesWithAMessage() throws {
        let scheme = try PatchingScheme(rule: .topK(patchSize: 8), threshold: 1)
        XCTAssertThrowsError(try scheme.patchLengths(ids: Tokenizer.encode("short"), entropies: [Float](repeating: 1, count: 7))) { error in
            XCTAssertTrue("\(error)".contains("at least 16 ids"), "\(error)")
        }
    }

    func testSchemeRefusesBadNumbers() {
        XCTAssertThrowsError(try PatchingScheme(rule: .entropy, threshold: .nan))
        XCTAssertThrowsError(try PatchingScheme(rule: .entropy, threshold: .infinity))
        XCTAssertThrowsError(try PatchingScheme(rule: .topK(patchSize: 0), threshold: 1))
        XCTAssertThrowsError(try PatchingScheme(rule: .fixed(patchSize: -3), threshold: 1))
        XCTAssertThrowsError(try PatchingScheme(rule: .entropy, threshold: 1, maxPatchLength: 0))
        XCTAssertThrowsError(try PatchingScheme(rule: .entropyMonotonic(thresholdAdd: .nan), threshold: 1))
    }

    /// config.json's monotonicity / patching_threshold_add are honoured, or refused when the official
    /// patcher would ignore one of them.
    func testConfigPatchingFieldsAreHonouredOrRefused() throws {
        let base = try Fixtures.json("models/tiny-a/config.json")
        func config(_ changes: [String: JSONValue]) throws -> BLTConfig {
            var items = Dictionary(base.objectItems ?? [], uniquingKeysWith: { _, last in last })
            for (key, value) in changes { items[key] = value }
            return try BLTConfig(json: items)
        }
        XCTAssertEqual(try config([:]).patchingRule, .entropy)
        XCTAssertEqual(try config(["monotonicity": .bool(true)]).patchingRule, .monotonic)
        XCTAssertEqual(try config(["patching_threshold_add": .double(0.25)]).patchingRule, .entropyMonotonic(thresholdAdd: 0.25))
        XCTAssertEqual(try config(["patching_threshold_add": .null, "monotonicity": .bool(false)]).patchingRule, .entropy)
        XCTAssertEqual(try config(["patching_mode": .string("space")]).patchingRule, .space)
        XCTAssertEqual(try config(["patching_mode": .string("static"), "patch_size": .int(4)]).patchingRule, .fixed(patchSize: 4))
        for bad: [String: JSONValue] in [
            ["monotonicity": .bool(true), "patching_threshold_add": .double(0.1)],
            ["patching_mode": .string("space"), "monotonicity": .bool(true)],
            ["patching_mode": .string("static"), "patch_size": .double(4.5)],
            ["patching_mode": .string("bpe")],
        ] {
            XCTAssertThrowsError(try config(bad), "\(bad)") { error in
                guard case BLTError.configInvalid = error else { return XCTFail("\(error)") }
            }
        }
    }

    /// The official context: every 8,192 ids start afresh (positions from 0, no history), as the
    /// official `calculate_entropies` cuts the stream; within 8,192 ids both contexts are one pass.
    func testOfficialEntropyContextRestartsEvery8192Ids() throws {
        let model = try BLTModel(directory: Fixtures.modelDirectory("tiny-a"))
        let text = Array(String(repeating: "Names refer to objects. ", count: 350).utf8)   // 8,400 bytes
        let ids = Tokenizer.encode(text)
        let chunk = EntropyContext.officialChunk
        XCTAssertGreaterThan(ids.count, chunk)
        let official = try model.entropies(ids, context: .official)
        let pieces = try model.entropies(Array(ids[..<chunk])) + model.entropies(Array(ids[chunk...]))
        XCTAssertEqual(official.count, ids.count)
        for (a, b) in zip(official, pieces) { XCTAssertEqual(a, b, accuracy: 1e-4) }   // packed vs alone: summation order only
        let whole = try model.entropies(ids)
        for (a, b) in zip(official[..<chunk], whole[..<chunk]) { XCTAssertEqual(a, b, accuracy: 1e-4) }   // the same first chunk
        // Right after the restart the entropy model has no history: its entropies differ.
        XCTAssertGreaterThan(zip(official[chunk ..< chunk + 8], whole[chunk ..< chunk + 8]).map { abs($0 - $1) }.max() ?? 0, 1e-3)
        let short = Array(ids[..<100])
        XCTAssertEqual(try model.entropies(short, context: .official), try model.entropies(short))
    }
}

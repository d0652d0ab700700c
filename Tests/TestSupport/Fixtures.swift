// What the test targets share: fixture paths and readers, the reference fixture models and their
// expected evaluations, and the one helper that runs the built `blt` executable.
import Foundation
import Safetensors
import JSONSupport

/// A fixture or executable the tests need is missing (thrown, so the test fails with this message).
public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Locates committed fixtures relative to this file, so tests need no resources or Python.
public enum Fixtures {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    /// The repository (Tests/Fixtures/../..): the bundled model is in Models/.
    public static let repository = root.deletingLastPathComponent().deletingLastPathComponent()

    package static func json(_ relative: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path(relative)) else { throw TestSupportError("missing fixture \(relative)") }
        return try JSONValue.parse(data)
    }

    /// The models under Tests/Fixtures/models, built and run by transformers 5.24 (see
    /// Converters/reference/make_fixtures.py). `-f16` / `-bf16` are copies with half-precision
    /// weights, `-sharded` is split by `save_pretrained(max_shard_size=)`.
    public static let modelNames = ["tiny-a", "tiny-a-bf16", "tiny-a-f16", "tiny-b", "tiny-b-sharded", "tiny-c", "tiny-d"]
    public static let modelsRoot = path("models")
    public static func modelDirectory(_ name: String) -> String { modelsRoot + "/" + name }
    /// Every fixture model; a missing one fails the tests that use it (and `testFixturesExist` names it).
    public static var modelDirectories: [String] { modelNames.map(modelDirectory) }

    /// A copy of tiny-b in `directory` whose LM head is all NaN, so every logit is NaN (what a
    /// broken checkpoint gives): for the tests that generation and scoring stop with an error.
    public static func nonFiniteHeadModel(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: modelDirectory("tiny-b") + "/config.json", toPath: directory + "/config.json")
        let file = try SafetensorsFile(path: modelDirectory("tiny-b") + "/model.safetensors")
        let tensors = try file.tensorInfos.map { info -> (name: String, shape: [Int], values: [Float]) in
            let values = try file.tensor(info.name).floats()
            return (info.name, info.shape, info.name == "lm_head.weight" ? [Float](repeating: .nan, count: values.count) : values)
        }
        try SafetensorsWriter.write(path: directory + "/model.safetensors", floats: tensors)
        return directory
    }
}

/// One text of a fixture model's expected.json with transformers' figures for it.
public struct ReferenceCase {
    public var name: String
    public var text: String
    public var ids: [Int32]
    public var targets: Int
    public var nll: Double
    public var bitsPerByte: Double
    public var patchLengths: [Int]
    /// The entropy model's entropy after each id (nats).
    public var entropies: [Float]

    /// The cases of the fixture model in `directory`.
    public static func all(_ directory: String) throws -> [ReferenceCase] {
        let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
        return expected["cases"].array.map {
            ReferenceCase(name: $0["name"].string ?? "?", text: $0["text"].string ?? "", ids: $0["ids"].ints.map(Int32.init),
                          targets: $0["targets"].int ?? -1, nll: $0["nll_nats"].double ?? .nan,
                          bitsPerByte: $0["bits_per_byte"].double ?? .nan, patchLengths: $0["patch_lengths"].ints,
                          entropies: $0["entropies"].floats)
        }
    }
}

extension ReferenceCase {
    /// The texts of the fixture model in `directory` plus the awkward ones: 1 byte, empty,
    /// whitespace, longer than any window, prefixes of many lengths of the long text, and bytes that
    /// are not UTF-8 (what packing is tested on, in the library and through `blt eval`).
    public static func packingDocuments(_ directory: String) throws -> [[UInt8]] {
        let cases = try all(directory)
        guard let longCase = cases.first(where: { $0.name == "long" }) else { throw TestSupportError("no case 'long' in \(directory)/expected.json") }
        let long = Array(longCase.text.utf8)
        var documents = cases.map { Array($0.text.utf8) }
        documents += [Array("A".utf8), [], Array(" ".utf8), Array("\n".utf8), long + long.reversed() + long]
        for length in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233] { documents.append(Array(long.prefix(length))) }
        documents.append([0xFF, 0x00, 0x80])   // bytes that are not UTF-8
        return documents
    }
}

/// transformers' NLL of a fixture text scored in windows (expected.json's `windowed`): each window's
/// ids run alone through the reference, with its own patches — an oracle for windowed evaluation
/// that does not come from our own unwindowed path.
public struct WindowedReference {
    public struct Window {
        /// Document ids fed (after a fresh BOS when it does not start at 0) and targets scored.
        public var input: Range<Int>
        public var scored: Range<Int>
        public var nll: Double
    }
    public var caseName: String
    public var window: Int
    public var context: Int
    public var windows: [Window]
    public var nll: Double

    /// The windowed references of the fixture model in `directory` (none is a failure of the caller's test).
    public static func all(_ directory: String) throws -> [WindowedReference] {
        let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
        func range(_ value: JSONValue?) -> Range<Int> {
            let bounds = value.ints
            return bounds.count == 2 && bounds[0] <= bounds[1] ? bounds[0] ..< bounds[1] : 0 ..< 0
        }
        return expected["windowed"].array.map { entry in
            WindowedReference(caseName: entry["case"].string ?? "?", window: entry["window"].int ?? -1, context: entry["context"].int ?? -1,
                              windows: entry["windows"].array.map { Window(input: range($0["input"]), scored: range($0["scored"]), nll: $0["nll"].double ?? .nan) },
                              nll: entry["nll"].double ?? .nan)
        }
    }
}

/// Test-side accessors: `json["a"]["b"].ints` reads nested fixture fields, giving empty/nil
/// values for anything missing (the assertions then fail with a readable message).
extension Optional where Wrapped == JSONValue {
    package subscript(key: String) -> JSONValue? { self.flatMap { $0[key] } }
    package var array: [JSONValue] { if case .array(let a)? = self { return a }; return [] }
    package var double: Double? { self?.doubleValue }
    package var int: Int? { self?.intValue }
    package var string: String? { self?.stringValue }
    package var ints: [Int] { array.compactMap(\.intValue) }
    package var floats: [Float] { array.compactMap { $0.doubleValue.map(Float.init) } }
    package var keys: [String] { self?.objectItems?.map(\.0).sorted() ?? [] }
}

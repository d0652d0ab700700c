import ByteLatent
import Foundation
import Safetensors
import JSONSupport

// The JSON form of an evaluation summary: what `blt eval --json` prints and `blt eval-merge` reads
// back. Reading checks each field's presence and type in a fixed order and reports the first
// problem with its path ("sums has no field 'targets'", "per_document.[0].bytes has the wrong
// type"), as earlier versions (which used Codable) did, so messages are unchanged.

extension ExactSum {
    /// A decimal string of `raw`: JSON numbers are doubles to most readers, too narrow for an Int128.
    package var json: JSONValue { .string(String(raw)) }

    init(json: JSONValue, at path: SummaryReader.Path) throws {
        guard case .string(let text) = json else { throw SummaryReader.wrongType(path) }
        guard let raw = Int128(text) else {
            throw SummaryReader.Failure("\(path): '\(text)' is not an exact sum (a decimal integer count of 2^-40)")
        }
        self.raw = raw
    }
}

extension RatioMoments {
    package var json: JSONValue {
        .object([("bits", bits.json), ("bits_squared", bitsSquared.json), ("bits_times_targets", bitsTimesTargets.json),
                 ("targets", .int(targets)), ("targets_squared", targetsSquared.json), ("units", .int(units))])
    }

    init(json: JSONValue, at path: SummaryReader.Path) throws {
        let o = try SummaryReader(json, at: path)
        self.init()
        units = try o.int("units")
        bits = try o.exactSum("bits")
        targets = try o.int("targets")
        bitsSquared = try o.exactSum("bits_squared")
        bitsTimesTargets = try o.exactSum("bits_times_targets")
        targetsSquared = try o.exactSum("targets_squared")
    }
}

extension DocumentResult {
    package var json: JSONValue {
        .object([("bits_per_byte", .double(bitsPerByte)), ("bytes", .int(bytes)), ("index", .int(index)), ("name", .string(name)),
                 ("nll_nats", .double(nllNats)), ("patches", .int(patches)), ("targets", .int(targets)), ("windows", .int(windows))])
    }

    init(json: JSONValue, at path: SummaryReader.Path) throws {
        let o = try SummaryReader(json, at: path)
        self.init(index: try o.int("index"), name: try o.string("name"), bytes: try o.int("bytes"), targets: try o.int("targets"),
                  patches: try o.int("patches"), windows: try o.int("windows"), nllNats: try o.double("nll_nats"))
    }
}

extension EvalSettings {
    package var json: JSONValue {
        var items: [(String, JSONValue)] = [("add_eos", .bool(addEOS))]
        if let batchBytes { items.append(("batch_bytes", .int(batchBytes))) }
        items += [
            ("chunk_targets", .int(chunkTargets)), ("context", .int(context)), ("field", .string(field)),
            ("inputs", .array(inputs.map { .string($0) })), ("model", .string(model)),
        ]
        if let modelFingerprint { items.append(("model_fingerprint", .string(modelFingerprint))) }
        if let patching { items.append(("patching", .string(patching))) }
        items += [("threshold", .double(threshold)), ("window", .int(window))]
        return .object(items)
    }

    init(json: JSONValue, at path: SummaryReader.Path) throws {
        let o = try SummaryReader(json, at: path)
        let model = try o.string("model")
        let threshold = try o.double("threshold")
        let window = try o.int("window")
        let context = try o.int("context")
        let addEOS = try o.bool("add_eos")
        let field = try o.string("field")
        let inputs = try o.array("inputs") { try SummaryReader.string($0, at: $1) }
        let chunkTargets = try o.int("chunk_targets")
        let modelFingerprint = try o.optional("model_fingerprint") { try SummaryReader.string($0, at: $1) }
        let batchBytes = try o.optional("batch_bytes") { try SummaryReader.int($0, at: $1) }
        let patching = try o.optional("patching") { try SummaryReader.string($0, at: $1) }
        self.init(model: model, threshold: threshold, window: window, context: context, addEOS: addEOS, field: field, inputs: inputs,
                  chunkTargets: chunkTargets, modelFingerprint: modelFingerprint, batchBytes: batchBytes, patching: patching)
    }
}

extension EvalSums {
    package var json: JSONValue {
        var items: [(String, JSONValue)] = [("by_chunk", byChunk.json), ("by_document", byDocument.json), ("bytes", .int(bytes)),
                                            ("documents", .int(documents))]
        if let flops { items.append(("flops", .double(flops))) }
        items += [("nll_nats", nllNats.json), ("patches", .int(patches)), ("seconds", .double(seconds)),
                  ("skipped_bad_lines", .int(skippedBadLines)), ("skipped_empty", .int(skippedEmpty)), ("targets", .int(targets))]
        if let weightBytesRead { items.append(("weight_bytes_read", .double(weightBytesRead))) }
        items.append(("windows", .int(windows)))
        return .object(items)
    }

    init(json: JSONValue, at path: SummaryReader.Path) throws {
        let o = try SummaryReader(json, at: path)
        self.init()
        documents = try o.int("documents")
        skippedEmpty = try o.int("skipped_empty")
        skippedBadLines = try o.int("skipped_bad_lines")
        bytes = try o.int("bytes")
        targets = try o.int("targets")
        patches = try o.int("patches")
        windows = try o.int("windows")
        nllNats = try o.exactSum("nll_nats")
        byDocument = try RatioMoments(json: try o.value("by_document"), at: path + "by_document")
        byChunk = try RatioMoments(json: try o.value("by_chunk"), at: path + "by_chunk")
        seconds = try o.double("seconds")
        flops = try o.optional("flops") { try SummaryReader.double($0, at: $1) }
        weightBytesRead = try o.optional("weight_bytes_read") { try SummaryReader.double($0, at: $1) }
    }
}

extension EvalSummary {
    /// The settings, shards and exact sums (what `eval-merge` reads back), and the figures derived
    /// from them for readers (ignored when read back).
    package var json: JSONValue {
        // Derived figures that overflow (e.g. a perplexity of 2^2000) are written as null: JSON has
        // no infinity, and failing to write would lose the whole result.
        func finite(_ x: Double?) -> JSONValue { x.flatMap { $0.isFinite ? .double($0) : nil } ?? .null }
        var items: [(String, JSONValue)] = [
            ("format", .string(Self.format)), ("settings", settings.json), ("shard_count", .int(shardCount)),
            ("shards", .array(shards.map { .int($0) })), ("complete", .bool(isComplete)), ("sums", sums.json),
            ("bits_per_byte", sums.targets == 0 ? .null : finite(bitsPerByte)),
            ("bits_per_byte_stderr", finite(bitsPerByteStandardError)),
            ("stderr_method", .string(standardErrorMethod)),
            ("perplexity_per_byte", sums.targets == 0 ? .null : finite(perplexityPerByte)),
            ("nll_nats", .double(nllNats)), ("targets", .int(sums.targets)), ("documents", .int(sums.documents)),
            ("bytes", .int(sums.bytes)), ("patches", .int(sums.patches)), ("windows", .int(sums.windows)),
            ("skipped_empty", .int(sums.skippedEmpty)), ("skipped_bad_lines", .int(sums.skippedBadLines)),
            ("mean_patch_bytes", sums.patches == 0 ? .null : finite(meanPatchBytes)),
            ("seconds", .double(sums.seconds)), ("bytes_per_second", bytesPerSecond.isFinite ? .double(bytesPerSecond) : .double(0)),
        ]
        // Achieved rates of the products and of the weights read (absent when the sums lack them).
        if let flops = sums.flops, let rate = flopsPerSecond {
            items += [("flops", finite(flops)), ("gflops_per_second", finite(rate / 1e9))]
        }
        if let bytes = sums.weightBytesRead, let rate = weightBytesPerSecond {
            items += [("weight_bytes_read", finite(bytes)), ("weight_gigabytes_per_second", finite(rate / 1e9))]
        }
        if let perDocument { items.append(("per_document", .array(perDocument.map(\.json)))) }
        return .object(items)
    }

    init(json: JSONValue) throws {
        let o = try SummaryReader(json, at: SummaryReader.Path())
        let format = try o.string("format")
        guard format == Self.format else { throw SummaryReader.Failure("format: format '\(format)' is not \(Self.format)") }
        settings = try EvalSettings(json: try o.value("settings"), at: SummaryReader.Path() + "settings")
        shardCount = try o.int("shard_count")
        shards = try o.array("shards") { try SummaryReader.int($0, at: $1) }
        sums = try EvalSums(json: try o.value("sums"), at: SummaryReader.Path() + "sums")
        perDocument = try o.optional("per_document") { value, path in
            guard case .array(let items) = value else { throw SummaryReader.wrongType(path) }
            return try items.enumerated().map { try DocumentResult(json: $1, at: path + "[\($0)]") }
        }
    }

    /// Pretty JSON with sorted keys.
    public func jsonData() throws -> Data { Data(json.serialized(.report).utf8) }

    /// Reads the JSON of `jsonData()`; a `LoadError` (source "JSON") says what is wrong.
    public static func decode(_ data: Data) throws -> EvalSummary {
        guard String(validating: data, as: UTF8.self) != nil,
              let value = try? JSONValue.parse(data, options: .report) else {
            throw LoadError(source: "JSON", reason: SummaryReader.notJSON)
        }
        do { return try EvalSummary(json: value) } catch let failure as SummaryReader.Failure {
            throw LoadError(source: "JSON", reason: failure.reason)
        }
    }
}

/// Typed fields of one object of a summary, with errors that name the field's path.
struct SummaryReader {
    /// Keys from the top level, "[i]" for array elements; "sums.by_chunk", "per_document.[0]".
    struct Path: CustomStringConvertible {
        var keys: [String] = []
        static func + (path: Path, key: String) -> Path { Path(keys: path.keys + [key]) }
        var description: String { keys.isEmpty ? "the top level" : keys.joined(separator: ".") }
    }

    struct Failure: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// What earlier versions said for text that is not JSON, and for a number out of its field's range.
    static let notJSON = "The given data was not valid JSON."
    static func wrongType(_ path: Path) -> Failure { Failure("\(path) has the wrong type") }

    let members: [(String, JSONValue)]
    let path: Path

    init(_ value: JSONValue, at path: Path) throws {
        guard case .object(let members) = value else { throw Self.wrongType(path) }
        self.members = members
        self.path = path
    }

    func value(_ key: String) throws -> JSONValue {
        guard let value = members.first(where: { $0.0 == key })?.1 else { throw Failure("\(path) has no field '\(key)'") }
        return value
    }

    /// nil when the field is absent or null.
    func optional<T>(_ key: String, _ read: (JSONValue, Path) throws -> T) throws -> T? {
        guard let value = members.first(where: { $0.0 == key })?.1, !value.isNull else { return nil }
        return try read(value, path + key)
    }

    func array<T>(_ key: String, _ element: (JSONValue, Path) throws -> T) throws -> [T] {
        guard case .array(let items) = try value(key) else { throw Self.wrongType(path + key) }
        return try items.enumerated().map { try element($1, path + key + "[\($0)]") }
    }

    func int(_ key: String) throws -> Int { try Self.int(try value(key), at: path + key) }
    func double(_ key: String) throws -> Double { try Self.double(try value(key), at: path + key) }
    func string(_ key: String) throws -> String { try Self.string(try value(key), at: path + key) }
    func exactSum(_ key: String) throws -> ExactSum { try ExactSum(json: try value(key), at: path + key) }
    func bool(_ key: String) throws -> Bool {
        guard case .bool(let b) = try value(key) else { throw Self.wrongType(path + key) }
        return b
    }

    /// An integer, or a float with an integral value that fits (`2.0`, `1e2`).
    static func int(_ value: JSONValue, at path: Path) throws -> Int {
        guard case .number(let n) = value else { throw wrongType(path) }
        if let i = n.int { return i }
        guard let i = Int(exactly: n.double) else { throw Failure(notJSON) }
        return i
    }

    static func double(_ value: JSONValue, at path: Path) throws -> Double {
        guard case .number(let n) = value else { throw wrongType(path) }
        guard n.double.isFinite else { throw Failure(notJSON) }
        return n.double
    }

    static func string(_ value: JSONValue, at path: Path) throws -> String {
        guard case .string(let s) = value else { throw wrongType(path) }
        return s
    }
}

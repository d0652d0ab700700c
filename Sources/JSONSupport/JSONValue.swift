// The package's one JSON stack: a value type (this file), a parser with strict and lenient modes
// (JSONParser.swift) and a writer with the few output formats the package prints (JSONWriter.swift).
// Written by hand rather than with Foundation's JSONSerialization / Codable so that integers are
// told apart from floats exactly (and `true` from `1`, which JSONSerialization on Linux cannot),
// object key order and duplicate keys stay visible, nesting depth is bounded (no stack overflow on
// hostile input), and errors give a byte offset. It is a target of its own below Safetensors
// (safetensors headers and index files are JSON), with `package` access: every target of this
// package uses it, and no product exports it. It needs no Foundation.

/// A number as written: its text, and its value as an `Int` (when written as an integer that fits)
/// and as a `Double`.
package struct JSONNumber: Equatable, Sendable, CustomStringConvertible {
    /// The literal as it appears in the source, or the canonical text of a constructed number.
    package let text: String
    /// The value, if the number is written as an integer (no fraction or exponent) that fits in an Int.
    package let int: Int?
    /// The value rounded to a Double (±infinity beyond Double's range).
    package let double: Double

    package init(_ value: Int) { text = String(value); int = value; double = Double(value) }
    package init(_ value: Double) { text = JSONFormat.pythonRepr(value); int = nil; double = value }
    init(text: String, int: Int?, double: Double) { self.text = text; self.int = int; self.double = double }

    package var description: String { text }

    /// Integers compare as integers, other numbers by value (NaN equal to NaN); an integer never
    /// equals a float (`1` ≠ `1.0`), as in the files these values come from.
    package static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        switch (a.int, b.int) {
        case let (x?, y?): return x == y
        case (nil, nil): return a.double == b.double || (a.double.isNaN && b.double.isNaN)
        default: return false
        }
    }
}

/// A JSON value. Objects keep their key order (and, from the strict parser, duplicate keys), so
/// configs round-trip the way Python's `json` writes them.
package indirect enum JSONValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// An integer number.
    package static func int(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }
    /// A floating-point number (written with a fraction or exponent, as Python writes floats).
    package static func double(_ value: Double) -> JSONValue { .number(JSONNumber(value)) }

    package static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The first value of `key` in an object (nil for other values).
    package subscript(_ key: String) -> JSONValue? {
        guard case let .object(items) = self else { return nil }
        return items.first { $0.0 == key }?.1
    }

    package var objectItems: [(String, JSONValue)]? { if case let .object(o) = self { return o } else { return nil } }
    package var isNull: Bool { if case .null = self { return true } else { return false } }
    /// An integer, or a float with an integral value below 9·10¹⁸.
    package var intValue: Int? {
        guard case let .number(n) = self else { return nil }
        if let i = n.int { return i }
        let d = n.double
        return d.rounded(.towardZero) == d && abs(d) < 9e18 ? Int(d) : nil
    }
    package var doubleValue: Double? { if case let .number(n) = self { return n.double } else { return nil } }
    package var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    package var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }

    /// "an object", "a number", … for messages.
    package var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// Sets (or appends) `key` in an object; no-op on other values.
    package mutating func set(_ key: String, _ value: JSONValue) {
        guard case var .object(items) = self else { return }
        if let i = items.firstIndex(where: { $0.0 == key }) { items[i].1 = value } else { items.append((key, value)) }
        self = .object(items)
    }

    // MARK: Parsing

    /// Parses `bytes` (lenient by default, as config.json files and requests need); a syntax error
    /// becomes a `JSONError` naming `path` and the byte offset.
    package static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes, path: String = "JSON",
                                                       options: JSONParser.Options = .lenient) throws -> JSONValue {
        do {
            return try withContiguousBytes(bytes) { try JSONParser.parse($0, options: options) }
        } catch let error as JSONParseError {
            throw JSONError(path: path, reason: "invalid JSON at byte \(error.offset): \(error.message)")
        }
    }

    static func withContiguousBytes<Bytes: Collection<UInt8>, R>(_ bytes: Bytes, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        if let r = try bytes.withContiguousStorageIfAvailable(body) { return r }
        return try Array(bytes).withUnsafeBufferPointer(body)
    }
}

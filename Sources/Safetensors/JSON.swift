// The package's one JSON stack: a value type, a parser with strict and lenient modes, and a writer
// with the few output formats the package prints. Written by hand rather than with Foundation's
// JSONSerialization / Codable so that integers are told apart from floats exactly (and `true` from
// `1`, which JSONSerialization on Linux cannot), object key order and duplicate keys stay visible,
// nesting depth is bounded (no stack overflow on hostile input), and errors give a byte offset.
// It lives here, the lowest module, because safetensors headers and index files are JSON; this
// module needs no Foundation.

/// A number as written: its text, and its value as an `Int` (when written as an integer that fits)
/// and as a `Double`.
public struct JSONNumber: Equatable, Sendable, CustomStringConvertible {
    /// The literal as it appears in the source, or the canonical text of a constructed number.
    public let text: String
    /// The value, if the number is written as an integer (no fraction or exponent) that fits in an Int.
    public let int: Int?
    /// The value rounded to a Double (±infinity beyond Double's range).
    public let double: Double

    public init(_ value: Int) { text = String(value); int = value; double = Double(value) }
    public init(_ value: Double) { text = JSONFormat.pythonRepr(value); int = nil; double = value }
    init(text: String, int: Int?, double: Double) { self.text = text; self.int = int; self.double = double }

    public var description: String { text }

    /// Integers compare as integers, other numbers by value (NaN equal to NaN); an integer never
    /// equals a float (`1` ≠ `1.0`), as in the files these values come from.
    public static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        switch (a.int, b.int) {
        case let (x?, y?): return x == y
        case (nil, nil): return a.double == b.double || (a.double.isNaN && b.double.isNaN)
        default: return false
        }
    }
}

/// A JSON value. Objects keep their key order (and, from the strict parser, duplicate keys), so
/// configs round-trip the way Python's `json` writes them.
public indirect enum JSONValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// An integer number.
    public static func int(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }
    /// A floating-point number (written with a fraction or exponent, as Python writes floats).
    public static func double(_ value: Double) -> JSONValue { .number(JSONNumber(value)) }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
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
    public subscript(_ key: String) -> JSONValue? {
        guard case let .object(items) = self else { return nil }
        return items.first { $0.0 == key }?.1
    }

    public var objectItems: [(String, JSONValue)]? { if case let .object(o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    /// An integer, or a float with an integral value below 9·10¹⁸.
    public var intValue: Int? {
        guard case let .number(n) = self else { return nil }
        if let i = n.int { return i }
        let d = n.double
        return d.rounded(.towardZero) == d && abs(d) < 9e18 ? Int(d) : nil
    }
    public var doubleValue: Double? { if case let .number(n) = self { return n.double } else { return nil } }
    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }

    /// "an object", "a number", … for messages.
    public var typeName: String {
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
    public mutating func set(_ key: String, _ value: JSONValue) {
        guard case var .object(items) = self else { return }
        if let i = items.firstIndex(where: { $0.0 == key }) { items[i].1 = value } else { items.append((key, value)) }
        self = .object(items)
    }

    // MARK: Parsing

    /// Parses `bytes` (lenient by default, as config.json files and requests need); a syntax error
    /// becomes a `JSONError` naming `path` and the byte offset.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes, path: String = "JSON",
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

    // MARK: Writing

    /// Python's `json.dumps(value, indent=2)` layout.
    public var description: String { serialized() }

    /// The value as JSON text in `format` (default: Python's `json.dumps(indent=2)` layout).
    public func serialized(_ format: JSONFormat = .python) -> String {
        var out = ""
        write(to: &out, format: format, level: 0)
        return out
    }

    private func write(to out: inout String, format: JSONFormat, level: Int) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n): out += format.number(n)
        case let .string(s): format.quote(s, into: &out)
        case let .array(items):
            writeContainer("[", "]", items.count, into: &out, format: format, level: level) { i, out in
                items[i].write(to: &out, format: format, level: level + 1)
            }
        case let .object(members):
            let ordered = format.sortsKeys ? members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : members
            writeContainer("{", "}", ordered.count, into: &out, format: format, level: level) { i, out in
                format.quote(ordered[i].0, into: &out)
                out += format.keySeparator
                ordered[i].1.write(to: &out, format: format, level: level + 1)
            }
        }
    }

    private func writeContainer(_ open: String, _ close: String, _ count: Int, into out: inout String, format: JSONFormat,
                                level: Int, element: (Int, inout String) -> Void) {
        out += open
        guard let indent = format.indent else {
            for i in 0..<count {
                if i > 0 { out += "," }
                element(i, &out)
            }
            out += close
            return
        }
        if count == 0 {
            if format.emptyContainersOnTwoLines { out += "\n\n" + String(repeating: " ", count: level * indent) }
            out += close
            return
        }
        let pad = String(repeating: " ", count: (level + 1) * indent)
        out += "\n"
        for i in 0..<count {
            out += pad
            element(i, &out)
            out += i + 1 < count ? ",\n" : "\n"
        }
        out += String(repeating: " ", count: level * indent) + close
    }
}

/// How `JSONValue.serialized` lays out JSON. The formats are the ones this package has always
/// printed, so outputs stay byte-identical across versions.
public struct JSONFormat: Sendable {
    /// Spaces per nesting level; nil writes one line.
    public var indent: Int?
    /// Between a key and its value.
    public var keySeparator: String
    /// Object keys in byte order instead of as stored.
    public var sortsKeys: Bool
    /// Floats as Python's `repr` (`10.0`, `NaN`, `Infinity`), else in the shortest form without a
    /// trailing `.0` (`10`, `0.5`, `1e-07`) with `null` for what JSON cannot hold (NaN, ±infinity).
    public var pythonFloats: Bool
    /// `\b` and `\f` as short escapes (else `\u0008`, `\u000c`).
    public var shortControlEscapes: Bool
    /// `/` written as `\/`.
    public var escapesSlashes: Bool
    /// An empty array or object pretty-printed as an opening line, a blank line and the close.
    public var emptyContainersOnTwoLines: Bool

    public init(indent: Int?, keySeparator: String, sortsKeys: Bool, pythonFloats: Bool, shortControlEscapes: Bool,
                escapesSlashes: Bool, emptyContainersOnTwoLines: Bool) {
        self.indent = indent; self.keySeparator = keySeparator; self.sortsKeys = sortsKeys; self.pythonFloats = pythonFloats
        self.shortControlEscapes = shortControlEscapes; self.escapesSlashes = escapesSlashes
        self.emptyContainersOnTwoLines = emptyContainersOnTwoLines
    }

    /// Python's `json.dumps(value, indent=2)`: configs and converter outputs, `blt inspect --json`.
    public static let python = JSONFormat(indent: 2, keySeparator: ": ", sortsKeys: false, pythonFloats: true,
                                          shortControlEscapes: false, escapesSlashes: false, emptyContainersOnTwoLines: false)
    /// One line, keys as stored, Python floats: the `blt serve` protocol.
    public static let line = JSONFormat(indent: nil, keySeparator: ":", sortsKeys: false, pythonFloats: true,
                                        shortControlEscapes: false, escapesSlashes: false, emptyContainersOnTwoLines: false)
    /// Indented with sorted keys and `"key" : value`: `blt eval --json` and `blt eval-merge --json`.
    public static let report = JSONFormat(indent: 2, keySeparator: " : ", sortsKeys: true, pythonFloats: false,
                                          shortControlEscapes: true, escapesSlashes: false, emptyContainersOnTwoLines: true)
    /// One line with sorted keys: the `--json` output of `blt patch` and `blt generate`.
    public static let sortedLine = JSONFormat(indent: nil, keySeparator: ":", sortsKeys: true, pythonFloats: false,
                                              shortControlEscapes: true, escapesSlashes: true, emptyContainersOnTwoLines: false)

    func number(_ n: JSONNumber) -> String {
        if let i = n.int { return String(i) }
        if pythonFloats { return Self.pythonRepr(n.double) }
        guard n.double.isFinite else { return "null" }
        var s = "\(n.double)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    /// Shortest round-trip form, as Python's `repr(float)` ("1e-05", "10000.0", "0.5").
    public static func pythonRepr(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        var s = "\(d)"
        // Swift writes 1e-05 as "1e-05" and 1e+16 as "1e+16" like Python; plain integers get ".0".
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s
    }

    func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}" where shortControlEscapes: out += "\\b"
            case "\u{C}" where shortControlEscapes: out += "\\f"
            case "/" where escapesSlashes: out += "\\/"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// JSON string literal for `s`, escaping quotes, backslashes and control characters (the string
/// format of `JSONFormat.python`, for JSON written piece by piece).
public func jsonQuoted(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count + 2)
    JSONFormat.python.quote(s, into: &out)
    return out
}

/// A JSON file or text that cannot be read or parsed.
public struct JSONError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

/// A syntax error and the byte offset where it was found.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// The parser. Strict mode is RFC 8259 with nesting bounded to 64 levels and duplicate keys kept
/// (safetensors headers must refuse them); lenient mode is what Python's `json` reads and writes:
/// NaN and ±Infinity, numbers as Swift's `Int`/`Double` read them, control characters in strings,
/// lone surrogates as U+FFFD, the last of duplicate keys.
public struct JSONParser {
    public struct Options: Sendable {
        public var maxDepth: Int
        /// `NaN`, `Infinity`, `-Infinity` and any number text that `Int` or `Double` can read
        /// (`+1`, `.5`, `01`).
        public var pythonNumbers: Bool
        /// Raw control characters inside strings.
        public var allowsControlCharacters: Bool
        /// Unpaired or invalid `\u` surrogates become U+FFFD instead of an error.
        public var replacesBadSurrogates: Bool
        public enum DuplicateKeys: Sendable {
            /// Every member kept, in order (for callers that must refuse duplicates).
            case keepAll
            /// One member per key, at the first one's position: the first value.
            case first
            /// One member per key, at the first one's position: the last value.
            case last
        }
        public var duplicateKeys: DuplicateKeys

        public init(maxDepth: Int, pythonNumbers: Bool, allowsControlCharacters: Bool, replacesBadSurrogates: Bool,
                    duplicateKeys: DuplicateKeys) {
            self.maxDepth = maxDepth; self.pythonNumbers = pythonNumbers; self.allowsControlCharacters = allowsControlCharacters
            self.replacesBadSurrogates = replacesBadSurrogates; self.duplicateKeys = duplicateKeys
        }

        /// Safetensors headers and index files.
        public static let strict = Options(maxDepth: 64, pythonNumbers: false, allowsControlCharacters: false,
                                           replacesBadSurrogates: false, duplicateKeys: .keepAll)
        /// config.json, converter inputs.
        public static let lenient = Options(maxDepth: 512, pythonNumbers: true, allowsControlCharacters: true,
                                            replacesBadSurrogates: true, duplicateKeys: .last)
        /// JSONL documents and `blt serve` requests: lenient, but text that is not Unicode (a lone
        /// surrogate escape) is an error, never a replacement character scored as if it were text.
        public static let documents = Options(maxDepth: 512, pythonNumbers: true, allowsControlCharacters: true,
                                              replacesBadSurrogates: false, duplicateKeys: .last)
        /// `blt eval --json` outputs read back by `blt eval-merge`: standard JSON (no NaN), the first
        /// of duplicate keys, control characters tolerated, as earlier versions read them.
        public static let report = Options(maxDepth: 512, pythonNumbers: false, allowsControlCharacters: true,
                                           replacesBadSurrogates: false, duplicateKeys: .first)
    }

    /// Parses one JSON value from `bytes`; only whitespace may follow it. Invalid UTF-8 inside
    /// strings is decoded with replacement characters (callers that must refuse it check first).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, options: Options = .strict) throws -> JSONValue {
        var p = JSONParser(bytes: bytes, options: options)
        p.skipWhitespace()
        let v = try p.parseValue(depth: 0)
        p.skipWhitespace()
        if p.pos != bytes.count { throw JSONParseError(message: "unexpected data after the JSON value", offset: p.pos) }
        return v
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let options: Options
    var pos = 0

    init(bytes: UnsafeBufferPointer<UInt8>, options: Options) { self.bytes = bytes; self.options = options }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    func fail(_ msg: String) -> JSONParseError { JSONParseError(message: msg, offset: pos) }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "N") where options.pythonNumbers:
            try expectLiteral("NaN"); return .number(JSONNumber(text: "NaN", int: nil, double: .nan))
        case UInt8(ascii: "I") where options.pythonNumbers:
            try expectLiteral("Infinity"); return .number(JSONNumber(text: "Infinity", int: nil, double: .infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return options.pythonNumbers ? try parsePythonNumber() : try parseNumber()
        case UInt8(ascii: "+") where options.pythonNumbers: return try parsePythonNumber()
        case UInt8(ascii: ".") where options.pythonNumbers: return try parsePythonNumber()
        default: throw fail("unexpected character")
        }
    }

    mutating func expectLiteral(_ lit: StaticString) throws {
        let n = lit.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw fail("unexpected end of input") }
        let lp = lit.utf8Start
        for i in 0..<n where bytes[pos + i] != lp[i] { throw fail("invalid literal") }
        pos += n
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        if depth > options.maxDepth { throw fail("nesting deeper than \(options.maxDepth)") }
        pos += 1 // {
        var members: [(String, JSONValue)] = []
        var index: [String: Int] = [:]
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input in object") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            switch options.duplicateKeys {
            case .keepAll: members.append((key, value))
            case .first, .last:
                if let i = index[key] {
                    if options.duplicateKeys == .last { members[i].1 = value }
                } else {
                    index[key] = members.count
                    members.append((key, value))
                }
            }
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input in object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        if depth > options.maxDepth { throw fail("nesting deeper than \(options.maxDepth)") }
        pos += 1 // [
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input in array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    /// The scalar of a `\u` escape (the `\u` already read), with a following low surrogate if any.
    mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        var scalar = try parseHex4()
        if scalar >= 0xD800 && scalar < 0xDC00 {
            guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                if options.replacesBadSurrogates { return "\u{FFFD}" }
                throw fail("unpaired surrogate in \\u escape")
            }
            pos += 2
            let low = try parseHex4()
            if options.replacesBadSurrogates {
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low & 0x3FF)
            } else {
                guard low >= 0xDC00 && low < 0xE000 else { throw fail("invalid low surrogate in \\u escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
        } else if scalar >= 0xDC00 && scalar < 0xE000 {
            if options.replacesBadSurrogates { return "\u{FFFD}" }
            throw fail("unpaired surrogate in \\u escape")
        }
        guard let u = Unicode.Scalar(scalar) else {
            if options.replacesBadSurrogates { return "\u{FFFD}" }
            throw fail("invalid \\u escape")
        }
        return u
    }

    mutating func parseString() throws -> String {
        pos += 1 // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 && !options.allowsControlCharacters { throw fail("unescaped control character in string") }
            pos += 1
        }
        guard pos < bytes.count else { throw fail("unterminated string") }
        // Slow path with escapes.
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 && !options.allowsControlCharacters { throw fail("unescaped control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"): out.append(contentsOf: Array(String(Character(try parseUnicodeEscape())).utf8))
            default: throw fail("invalid escape character")
            }
        }
        throw fail("unterminated string")
    }

    /// An RFC 8259 number.
    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var isInteger = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number fraction") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number exponent") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        return .number(JSONNumber(text: text, int: isInteger ? Int(text) : nil, double: Double(text) ?? .nan))
    }

    /// Python-style number: `-Infinity`, or the longest run of number characters that `Int` (when it
    /// has no fraction or exponent) or else `Double` reads.
    mutating func parsePythonNumber() throws -> JSONValue {
        let start = pos
        if bytes[pos] == UInt8(ascii: "-") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "I") {
                try expectLiteral("Infinity")
                return .number(JSONNumber(text: "-Infinity", int: nil, double: -.infinity))
            }
        }
        var isInteger = true
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x30 && c <= 0x39 || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
                pos += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                isInteger = false
                pos += 1
            } else { break }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if isInteger, let i = Int(text) { return .number(JSONNumber(text: text, int: i, double: Double(i))) }
        guard let d = Double(text) else { pos = start; throw fail("invalid number") }
        return .number(JSONNumber(text: text, int: nil, double: d))
    }
}

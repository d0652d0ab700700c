/// A JSON file or text that cannot be read or parsed.
package struct JSONError: Error, CustomStringConvertible, Equatable {
    package var path: String
    package var reason: String
    package init(path: String, reason: String) { self.path = path; self.reason = reason }
    package var description: String { "\(path): \(reason)" }
}

/// A syntax error and the byte offset where it was found.
package struct JSONParseError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package var offset: Int
    package var description: String { "\(message) at byte \(offset)" }
}

/// The parser. Strict mode is RFC 8259 with nesting bounded to 64 levels and duplicate keys kept
/// (safetensors headers must refuse them); lenient mode is what Python's `json` reads and writes:
/// NaN and ±Infinity, numbers as Swift's `Int`/`Double` read them, control characters in strings,
/// lone surrogates as U+FFFD, the last of duplicate keys.
package struct JSONParser {
    package struct Options: Sendable {
        package var maxDepth: Int
        /// `NaN`, `Infinity`, `-Infinity` and any number text that `Int` or `Double` can read
        /// (`+1`, `.5`, `01`).
        package var pythonNumbers: Bool
        /// Raw control characters inside strings.
        package var allowsControlCharacters: Bool
        /// Unpaired or invalid `\u` surrogates become U+FFFD instead of an error.
        package var replacesBadSurrogates: Bool
        package enum DuplicateKeys: Sendable {
            /// Every member kept, in order (for callers that must refuse duplicates).
            case keepAll
            /// One member per key, at the first one's position: the first value.
            case first
            /// One member per key, at the first one's position: the last value.
            case last
        }
        package var duplicateKeys: DuplicateKeys

        package init(maxDepth: Int, pythonNumbers: Bool, allowsControlCharacters: Bool, replacesBadSurrogates: Bool,
                    duplicateKeys: DuplicateKeys) {
            self.maxDepth = maxDepth; self.pythonNumbers = pythonNumbers; self.allowsControlCharacters = allowsControlCharacters
            self.replacesBadSurrogates = replacesBadSurrogates; self.duplicateKeys = duplicateKeys
        }

        /// Safetensors headers and index files.
        package static let strict = Options(maxDepth: 64, pythonNumbers: false, allowsControlCharacters: false,
                                           replacesBadSurrogates: false, duplicateKeys: .keepAll)
        /// config.json, converter inputs.
        package static let lenient = Options(maxDepth: 512, pythonNumbers: true, allowsControlCharacters: true,
                                            replacesBadSurrogates: true, duplicateKeys: .last)
        /// JSONL documents and `blt serve` requests: lenient, but text that is not Unicode (a lone
        /// surrogate escape) is an error, never a replacement character scored as if it were text.
        package static let documents = Options(maxDepth: 512, pythonNumbers: true, allowsControlCharacters: true,
                                              replacesBadSurrogates: false, duplicateKeys: .last)
        /// `blt eval --json` outputs read back by `blt eval-merge`: standard JSON (no NaN), the first
        /// of duplicate keys, control characters tolerated, as earlier versions read them.
        package static let report = Options(maxDepth: 512, pythonNumbers: false, allowsControlCharacters: true,
                                           replacesBadSurrogates: false, duplicateKeys: .first)
    }

    /// Parses one JSON value from `bytes`; only whitespace may follow it. Invalid UTF-8 inside
    /// strings is decoded with replacement characters (callers that must refuse it check first).
    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>, options: Options = .strict) throws -> JSONValue {
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

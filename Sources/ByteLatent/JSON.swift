import Foundation
import Safetensors

/// A JSON value that keeps object key order and whether a number was written as an integer, so
/// configs round-trip the way Python's `json` writes them, and `true` is never mistaken for `1`
/// (JSONSerialization on Linux cannot tell them apart). Used for config.json, JSONL documents and
/// the converter's outputs. (The Safetensors module has its own minimal header parser: it sits
/// below this module and needs no Foundation.)
public indirect enum JSONValue: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(_ key: String) -> JSONValue? {
        guard case let .object(items) = self else { return nil }
        return items.first { $0.0 == key }?.1
    }

    public var objectItems: [(String, JSONValue)]? { if case let .object(o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var intValue: Int? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d.rounded(.towardZero) == d && abs(d) < 9e18: return Int(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }
    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }

    /// Sets (or appends) `key` in an object; no-op on other values.
    public mutating func set(_ key: String, _ value: JSONValue) {
        guard case var .object(items) = self else { return }
        if let i = items.firstIndex(where: { $0.0 == key }) { items[i].1 = value } else { items.append((key, value)) }
        self = .object(items)
    }

    // MARK: parsing

    public static func parse(_ data: Data, path: String = "JSON") throws -> JSONValue {
        var p = JSONParser(bytes: Array(data), path: path)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == p.bytes.count else { throw p.fail("trailing characters") }
        return v
    }

    public static func read(path: String) throws -> JSONValue {
        guard let data = FileContents.read(path) else {
            throw JSONError(path: path, reason: "cannot read the file")
        }
        return try parse(data, path: path)
    }

    // MARK: writing (Python `json.dumps(indent=2)` style)

    public var description: String { serialized(indent: 2) }

    public func serialized(indent: Int = 2) -> String {
        var out = ""
        write(to: &out, level: 0, indent: indent)
        return out
    }

    private func write(to out: inout String, level: Int, indent: Int) {
        let pad = String(repeating: " ", count: (level + 1) * indent)
        let close = String(repeating: " ", count: level * indent)
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += JSONValue.format(d)
        case let .string(s): out += jsonQuoted(s)
        case let .array(a):
            if a.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, v) in a.enumerated() {
                out += pad
                v.write(to: &out, level: level + 1, indent: indent)
                out += i + 1 < a.count ? ",\n" : "\n"
            }
            out += close + "]"
        case let .object(o):
            if o.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, (k, v)) in o.enumerated() {
                out += pad
                out += jsonQuoted(k)
                out += ": "
                v.write(to: &out, level: level + 1, indent: indent)
                out += i + 1 < o.count ? ",\n" : "\n"
            }
            out += close + "}"
        }
    }

    /// Shortest round-trip form, as Python's `repr(float)` ("1e-05", "10000.0", "0.5").
    static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        var s = "\(d)"
        // Swift writes 1e-05 as "1e-05" and 1e+16 as "1e+16" like Python; plain integers get ".0".
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s
    }
}

struct JSONParser {
    let bytes: [UInt8]
    let path: String
    var pos = 0

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    func fail(_ reason: String) -> JSONError {
        JSONError(path: path, reason: "invalid JSON at byte \(pos): \(reason)")
    }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[pos]) { pos += 1 }
    }

    mutating func expect(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { throw fail("expected \(word)") }
        pos += w.count
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("nesting too deep") }
        guard pos < bytes.count else { throw fail("unexpected end") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var items: [(String, JSONValue)] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(items) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                let v = try value(depth: depth + 1)
                if let i = items.firstIndex(where: { $0.0 == k }) { items[i].1 = v } else { items.append((k, v)) }
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(items) }
                throw fail("expected , or }")
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSONValue] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw fail("expected , or ]")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        default: return try number()
        }
    }

    mutating func number() throws -> JSONValue {
        let start = pos
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "I") { try expect("Infinity"); return .double(-.infinity) }
        }
        var isInt = true
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x30 && c <= 0x39 || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
                pos += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                isInt = false
                pos += 1
            } else { break }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInt, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { pos = start; throw fail("bad number \(text.isEmpty ? "(none)" : text)") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        pos += 4
        return v
    }

    mutating func string() throws -> String {
        pos += 1
        var scalars = String.UnicodeScalarView()
        var run = pos
        var out = ""
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                out += String(decoding: bytes[run..<pos], as: UTF8.self)
                pos += 1
                return out
            }
            if c == UInt8(ascii: "\\") {
                out += String(decoding: bytes[run..<pos], as: UTF8.self)
                pos += 1
                guard pos < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                scalars = String.UnicodeScalarView()
                switch e {
                case UInt8(ascii: "n"): out += "\n"
                case UInt8(ascii: "t"): out += "\t"
                case UInt8(ascii: "r"): out += "\r"
                case UInt8(ascii: "b"): out += "\u{8}"
                case UInt8(ascii: "f"): out += "\u{c}"
                case UInt8(ascii: "/"): out += "/"
                case UInt8(ascii: "\\"): out += "\\"
                case UInt8(ascii: "\""): out += "\""
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if v >= 0xD800 && v < 0xDC00, pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        pos += 2
                        let lo = try hex4()
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo & 0x3FF)
                    }
                    scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                    out += String(scalars)
                default: throw fail("bad escape")
                }
                run = pos
                continue
            }
            pos += 1
        }
    }
}

/// A JSON file or text that cannot be read or parsed.
public struct JSONError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

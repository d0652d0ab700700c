extension JSONValue {
    // MARK: Writing

    /// Python's `json.dumps(value, indent=2)` layout.
    package var description: String { serialized() }

    /// The value as JSON text in `format` (default: Python's `json.dumps(indent=2)` layout).
    package func serialized(_ format: JSONFormat = .python) -> String {
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
package struct JSONFormat: Sendable {
    /// Spaces per nesting level; nil writes one line.
    package var indent: Int?
    /// Between a key and its value.
    package var keySeparator: String
    /// Object keys in byte order instead of as stored.
    package var sortsKeys: Bool
    /// Floats as Python's `repr` (`10.0`, `NaN`, `Infinity`), else in the shortest form without a
    /// trailing `.0` (`10`, `0.5`, `1e-07`) with `null` for what JSON cannot hold (NaN, ±infinity).
    package var pythonFloats: Bool
    /// `\b` and `\f` as short escapes (else `\u0008`, `\u000c`).
    package var shortControlEscapes: Bool
    /// `/` written as `\/`.
    package var escapesSlashes: Bool
    /// An empty array or object pretty-printed as an opening line, a blank line and the close.
    package var emptyContainersOnTwoLines: Bool

    package init(indent: Int?, keySeparator: String, sortsKeys: Bool, pythonFloats: Bool, shortControlEscapes: Bool,
                escapesSlashes: Bool, emptyContainersOnTwoLines: Bool) {
        self.indent = indent; self.keySeparator = keySeparator; self.sortsKeys = sortsKeys; self.pythonFloats = pythonFloats
        self.shortControlEscapes = shortControlEscapes; self.escapesSlashes = escapesSlashes
        self.emptyContainersOnTwoLines = emptyContainersOnTwoLines
    }

    /// Python's `json.dumps(value, indent=2)`: configs and converter outputs, `blt inspect --json`.
    package static let python = JSONFormat(indent: 2, keySeparator: ": ", sortsKeys: false, pythonFloats: true,
                                          shortControlEscapes: false, escapesSlashes: false, emptyContainersOnTwoLines: false)
    /// One line, keys as stored, Python floats: the `blt serve` protocol.
    package static let line = JSONFormat(indent: nil, keySeparator: ":", sortsKeys: false, pythonFloats: true,
                                        shortControlEscapes: false, escapesSlashes: false, emptyContainersOnTwoLines: false)
    /// Indented with sorted keys and `"key" : value`: `blt eval --json` and `blt eval-merge --json`.
    package static let report = JSONFormat(indent: 2, keySeparator: " : ", sortsKeys: true, pythonFloats: false,
                                          shortControlEscapes: true, escapesSlashes: false, emptyContainersOnTwoLines: true)
    /// One line with sorted keys: the `--json` output of `blt patch` and `blt generate`.
    package static let sortedLine = JSONFormat(indent: nil, keySeparator: ":", sortsKeys: true, pythonFloats: false,
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
    package static func pythonRepr(_ d: Double) -> String {
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
package func jsonQuoted(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count + 2)
    JSONFormat.python.quote(s, into: &out)
    return out
}

/// A minimal SVG writer: elements appended as text, every text and attribute value escaped for
/// XML 1.0. No scripts, no external references.
struct SVGDocument {
    private(set) var body = ""

    /// `text` made safe for XML character data and attribute values: &, <, >, " and ' escaped, and
    /// the characters XML 1.0 forbids even as references (C0 controls other than tab/newline/CR,
    /// U+FFFE, U+FFFF) replaced by U+FFFD.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A coordinate with at most one decimal ("12", "12.5").
    static func number(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "0" }
        let whole = Int(tenths) / 10, fraction = abs(Int(tenths) % 10)
        if fraction == 0 { return String(whole) }
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
    }

    typealias Attributes = KeyValuePairs<String, Any>

    static func attributes(_ attributes: Attributes) -> String {
        var out = ""
        for (key, value) in attributes {
            let text: String
            switch value {
            case let v as Double: text = number(v)
            case let v as Int: text = String(v)
            default: text = escape("\(value)")
            }
            out += " \(key)=\"\(text)\""
        }
        return out
    }

    mutating func element(_ name: String, _ attributes: Attributes) {
        body += "<\(name)\(Self.attributes(attributes))/>\n"
    }

    mutating func text(_ content: String, _ attributes: Attributes) {
        body += "<text\(Self.attributes(attributes))>\(Self.escape(content))</text>\n"
    }

    mutating func open(_ name: String, _ attributes: Attributes = [:]) { body += "<\(name)\(Self.attributes(attributes))>\n" }
    mutating func close(_ name: String) { body += "</\(name)>\n" }
    mutating func comment(_ text: String) {
        // "--" may not occur inside a comment.
        body += "<!-- \(Self.escape(text).replacingOccurrences(of: "--", with: "- -")) -->\n"
    }

    func document(width: Double, height: Double, title: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(Self.number(width))" height="\(Self.number(height))" viewBox="0 0 \(Self.number(width)) \(Self.number(height))">
        <title>\(Self.escape(title))</title>
        \(body)</svg>

        """
    }
}

import ByteLatent

/// How a run of ids is labelled along a plot's x axis: each UTF-8 character kept whole (one label
/// over all of its bytes), printable characters as themselves, everything else as an escape.
public struct ByteGlyph: Sendable, Equatable {
    /// Indices (into the labelled ids) that this label covers: one for ASCII, an escape or a
    /// special id; two to four for a multi-byte UTF-8 character.
    public var range: Range<Int>
    /// What to draw: the character, or an escape such as `\n`, `\x9f`, `U+200B` or `</s>`.
    public var text: String
    /// True when `text` is an escape or a special id rather than the character itself.
    public var isEscape: Bool
}

public enum ByteGlyphs {
    /// Labels for `ids` (byte ids, BOS/EOS and other specials), in order, covering every index once.
    /// Bytes that are not well-formed UTF-8 (stray continuation bytes, overlong forms, surrogates,
    /// truncated sequences) get one `\xNN` label each.
    public static func glyphs<IDs: Collection<Int32>>(_ ids: IDs) -> [ByteGlyph] {
        let ids = Array(ids)
        var glyphs: [ByteGlyph] = []
        var i = 0
        while i < ids.count {
            let id = ids[i]
            guard let byte = byteValue(id) else {
                glyphs.append(ByteGlyph(range: i ..< i + 1, text: special(id), isEscape: true))
                i += 1
                continue
            }
            if let (scalar, length) = decodeScalar(ids, at: i) {
                let (text, isEscape) = label(scalar)
                glyphs.append(ByteGlyph(range: i ..< i + length, text: text, isEscape: isEscape))
                i += length
            } else {
                glyphs.append(ByteGlyph(range: i ..< i + 1, text: hexEscape(byte), isEscape: true))
                i += 1
            }
        }
        return glyphs
    }

    static func byteValue(_ id: Int32) -> UInt8? { Tokenizer.byte(of: id) }

    static func special(_ id: Int32) -> String {
        switch id {
        case Tokenizer.bosID: return "<s>"
        case Tokenizer.eosID: return "</s>"
        case Tokenizer.boeID: return "<boe>"
        case Tokenizer.bpeDelimiterID: return "<bpe>"
        default: return "<\(id)>"
        }
    }

    static func hexEscape(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
    }

    /// The well-formed UTF-8 sequence starting at `i` (Unicode Table 3-7), or nil.
    static func decodeScalar(_ ids: [Int32], at i: Int) -> (Unicode.Scalar, Int)? {
        guard let lead = byteValue(ids[i]) else { return nil }
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF   // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F           // no surrogates
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F           // nothing above U+10FFFF
        default: return nil
        }
        guard i + length <= ids.count else { return nil }
        var value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for k in 1..<length {
            guard let byte = byteValue(ids[i + k]) else { return nil }
            let (lo, hi): (UInt8, UInt8) = k == 1 ? (low, high) : (0x80, 0xBF)
            guard byte >= lo, byte <= hi else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// The character itself when it draws as a visible glyph; otherwise an escape. Space is shown
    /// as an open box so that it is visible.
    static func label(_ scalar: Unicode.Scalar) -> (String, Bool) {
        switch scalar {
        case "\n": return ("\\n", true)
        case "\t": return ("\\t", true)
        case "\r": return ("\\r", true)
        case " ": return ("\u{2423}", true)
        default: break
        }
        if scalar.isASCII {
            return scalar.value < 0x20 || scalar.value == 0x7F ? (hexEscape(UInt8(scalar.value)), true) : (String(scalar), false)
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
             .spaceSeparator, .nonspacingMark, .enclosingMark, .spacingMark:
            // Invisible, or drawn only on top of a neighbour: name the code point instead.
            let hex = String(scalar.value, radix: 16, uppercase: true)
            return ("U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex, true)
        default:
            return (String(scalar), false)
        }
    }
}

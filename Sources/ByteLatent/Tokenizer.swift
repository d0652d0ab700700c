/// BLT's byte tokenizer: every byte b becomes id b + 4; ids 0–3 are specials.
public enum Tokenizer {
    public static let boeID: Int32 = 0   // "beginning of example", the hash padding id
    public static let bosID: Int32 = 1
    public static let eosID: Int32 = 2
    public static let bpeDelimiterID: Int32 = 3
    public static let offset: Int32 = 4
    public static let vocabularySize = 260

    /// BOS + (byte + 4)…, plus EOS when `addEOS` (the reference's default for scoring documents).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, addBOS: Bool = true, addEOS: Bool = true) -> [Int32]
    where Bytes.Element == UInt8 {
        // One allocation of the final size: `bytes.map` first would hold a second full copy (4 bytes
        // per input byte) at the peak.
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.underestimatedCount + 2)
        if addBOS { ids.append(bosID) }
        for byte in bytes { ids.append(Int32(byte) + offset) }
        if addEOS { ids.append(eosID) }
        return ids
    }

    public static func encode(_ text: String, addBOS: Bool = true, addEOS: Bool = true) -> [Int32] {
        encode(Array(text.utf8), addBOS: addBOS, addEOS: addEOS)
    }

    /// The byte an id stands for; nil for the special ids (< 4).
    public static func byte(of id: Int32) -> UInt8? {
        id >= offset && id < offset + 256 ? UInt8(id - offset) : nil
    }

    /// The bytes of `ids`, dropping every special id (< 4) as the reference's decoder does.
    public static func decodeBytes<IDs: Sequence>(_ ids: IDs) -> [UInt8] where IDs.Element == Int32 {
        ids.compactMap { $0 >= offset && $0 < offset + 256 ? UInt8($0 - offset) : nil }
    }

    /// UTF-8 text of `ids`; invalid sequences become U+FFFD.
    public static func decode<IDs: Sequence>(_ ids: IDs) -> String where IDs.Element == Int32 {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }
}

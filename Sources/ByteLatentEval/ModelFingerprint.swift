import ByteLatent
import Foundation

/// A content fingerprint of a model directory: SHA-256 over config.json, the safetensors index (if
/// any) and the header of every .safetensors file (names, dtypes, shapes, offsets — not the weights,
/// so it costs a few kilobytes of reading). Two directories with the same name but different models
/// get different fingerprints; a copied or renamed model keeps its fingerprint. `blt eval` records it
/// so `blt eval-merge` refuses to merge shards of different models.
public enum ModelFingerprint {
    /// "sha256:" + 16 hex digits (64 bits are plenty to tell models apart), or nil if the directory
    /// cannot be read.
    public static func of(directory: String) -> String? {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return nil }
        var hasher = SHA256()
        func add(_ label: String, _ bytes: Data) {
            hasher.update(Data("\(label)\0\(bytes.count)\0".utf8))
            hasher.update(bytes)
        }
        guard let config = FileContents.read(directory + "/config.json") else { return nil }
        add("config.json", config)
        for name in names.sorted() {
            let path = directory + "/" + name
            if name == "model.safetensors.index.json", let index = FileContents.read(path) {
                add(name, index)
            } else if name.hasSuffix(".safetensors"), let header = safetensorsHeader(path) {
                add(name, header)
            }
        }
        return "sha256:" + hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The 8-byte length and the JSON header of a safetensors file (nil if unreadable or absurd).
    static func safetensorsHeader(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else { return nil }
        let length = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= 100_000_000, let header = try? handle.read(upToCount: Int(length)) else { return nil }
        return prefix + header
    }
}

/// SHA-256 (FIPS 180-4), small and dependency-free: only fingerprints use it.
struct SHA256 {
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    mutating func update(_ data: Data) {
        length &+= UInt64(data.count)
        buffer.append(contentsOf: data)
        var start = 0
        while buffer.count - start >= 64 {
            block(buffer[start ..< start + 64])
            start += 64
        }
        buffer.removeFirst(start)
    }

    mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        buffer.append(contentsOf: tail)
        var start = 0
        while start < buffer.count { block(buffer[start ..< start + 64]); start += 64 }
        buffer = []
        return state.flatMap { word in (0..<4).reversed().map { UInt8(truncatingIfNeeded: word >> (8 * UInt32($0))) } }
    }

    private mutating func block(_ bytes: ArraySlice<UInt8>) {
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var w = [UInt32](repeating: 0, count: 64)
        let base = bytes.startIndex
        for i in 0..<16 {
            w[i] = UInt32(bytes[base + 4 * i]) << 24 | UInt32(bytes[base + 4 * i + 1]) << 16
                | UInt32(bytes[base + 4 * i + 2]) << 8 | UInt32(bytes[base + 4 * i + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, h) = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        for i in 0..<64 {
            let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ Self.k[i] &+ w[i]
            let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
            (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
        }
        state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
        state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
    }
}

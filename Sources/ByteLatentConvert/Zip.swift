import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// One member of a zip archive whose data is stored (not compressed).
public struct ZipEntry: Sendable, Equatable {
    public let name: String
    /// Offset of the member's data in the archive file.
    public let dataOffset: Int
    public let size: Int
    /// CRC-32 of the data, from the central directory.
    public let crc32: UInt32
}

/// CRC-32 (IEEE 802.3, as zip uses it), table-driven.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}

/// Little-endian reads with bounds checks over a byte buffer.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    func has(_ offset: Int, _ count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= bytes.count && count <= bytes.count - offset
    }
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
}

/// The central directory of a zip archive (ZIP64 aware), over a memory-mapped file.
/// Only what `torch.save` writes is supported: stored members, no encryption, one disk.
public final class ZipArchive: @unchecked Sendable {
    public let file: MappedFile
    public let entries: [ZipEntry]
    private let index: [String: Int]

    public var path: String { file.path }

    public convenience init(path: String) throws {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let error as MappedFile.OpenError {
            switch error {
            case .cannotOpen(let e): throw ConvertError.io(path: path, reason: String(cString: strerror(e)))
            case .isDirectory, .notRegularFile: throw ConvertError.io(path: path, reason: "not a regular file")
            case .mapFailed(let e): throw ConvertError.io(path: path, reason: "mmap failed: " + String(cString: strerror(e)))
            }
        }
        try self.init(file: file)
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        let r = ByteReader(bytes: file.bytes)
        let n = file.bytes.count
        func bad(_ reason: String) -> ConvertError { .corruptZip(path: path, reason: reason) }

        // End of central directory record: 22 bytes + comment (≤ 65535), searched from the end.
        if n >= 2, file.bytes[0] == 0x80, file.bytes[1] == 0x02 {
            throw ConvertError.legacyTorchFormat(path: path)
        }
        guard n >= 22 else { throw bad("file is \(n) bytes, too short for a zip archive") }
        var eocd = -1
        var o = n - 22
        let lowest = max(0, n - 22 - 65535)
        while o >= lowest {
            if r.u32(o) == 0x0605_4b50, o + 22 + r.u16(o + 20) == n { eocd = o; break }
            o -= 1
        }
        guard eocd >= 0 else { throw bad("no end-of-central-directory record") }
        var count = r.u16(eocd + 10)
        var cdSize = r.u32(eocd + 12)
        var cdOffset = r.u32(eocd + 16)
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits right before the EOCD and points at the ZIP64 EOCD record.
            let loc = eocd - 20
            guard r.has(loc, 20), r.u32(loc) == 0x0706_4b50 else { throw bad("missing ZIP64 locator") }
            let z = r.u64(loc + 8)
            guard z <= UInt64(n), r.has(Int(z), 56), r.u32(Int(z)) == 0x0606_4b50 else {
                throw bad("bad ZIP64 end-of-central-directory record")
            }
            let zo = Int(z)
            guard r.u64(zo + 32) <= UInt64(n), r.u64(zo + 40) <= UInt64(n), r.u64(zo + 48) <= UInt64(n) else {
                throw bad("ZIP64 directory fields out of range")
            }
            count = Int(r.u64(zo + 32))
            cdSize = Int(r.u64(zo + 40))
            cdOffset = Int(r.u64(zo + 48))
        }
        guard r.has(cdOffset, cdSize) else { throw bad("central directory out of range (truncated file?)") }

        var list: [ZipEntry] = []
        var idx: [String: Int] = [:]
        var p = cdOffset
        for _ in 0..<count {
            guard r.has(p, 46), r.u32(p) == 0x0201_4b50 else { throw bad("bad central directory entry at \(p)") }
            let flags = r.u16(p + 8)
            let method = r.u16(p + 10)
            var csize = UInt64(r.u32(p + 20))
            var usize = UInt64(r.u32(p + 24))
            let nameLen = r.u16(p + 28), extraLen = r.u16(p + 30), commentLen = r.u16(p + 32)
            var local = UInt64(r.u32(p + 42))
            guard r.has(p + 46, nameLen + extraLen + commentLen) else { throw bad("central directory entry overruns") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: file.bytes[(p + 46)..<(p + 46 + nameLen)]), as: UTF8.self)
            // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = r.u16(e), len = r.u16(e + 2)
                guard e + 4 + len <= extraEnd else { throw bad("bad extra field in \(name)") }
                if id == 0x0001 {
                    var q = e + 4
                    func next() throws -> UInt64 {
                        guard q + 8 <= e + 4 + len else { throw bad("short ZIP64 extra field in \(name)") }
                        defer { q += 8 }
                        return r.u64(q)
                    }
                    if usize == 0xFFFF_FFFF { usize = try next() }
                    if csize == 0xFFFF_FFFF { csize = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                e += 4 + len
            }
            if flags & 1 != 0 { throw bad("entry \(name) is encrypted") }
            if method != 0 { throw ConvertError.compressedZipEntry(path: path, entry: name, method: method) }
            guard csize == usize, usize <= UInt64(n), local <= UInt64(n) else { throw bad("inconsistent sizes for \(name)") }
            let lo = Int(local)
            guard r.has(lo, 30), r.u32(lo) == 0x0403_4b50 else { throw bad("bad local header for \(name) (truncated file?)") }
            let dataOffset = lo + 30 + r.u16(lo + 26) + r.u16(lo + 28)
            guard r.has(dataOffset, Int(usize)) else {
                throw bad("data of \(name) runs past the end of the file (truncated file?)")
            }
            // Readers disagree on which of two same-named members counts (Python's zipfile takes
            // the last): an archive that is ambiguous is refused rather than guessed at.
            guard idx[name] == nil else { throw bad("the entry \(name) appears twice") }
            idx[name] = list.count
            list.append(ZipEntry(name: name, dataOffset: dataOffset, size: Int(usize), crc32: UInt32(r.u32(p + 16))))
            p += 46 + nameLen + extraLen + commentLen
        }
        entries = list
        index = idx
    }

    public func entry(_ name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// A member's bytes after checking them against the CRC-32 of the central directory: a flipped
    /// bit in a .pth would otherwise convert silently into wrong weights.
    public func checkedData(_ entry: ZipEntry) throws -> UnsafeRawBufferPointer {
        let bytes = data(entry)
        let actual = CRC32.checksum(bytes)
        guard actual == entry.crc32 else {
            throw ConvertError.corruptZip(path: path, reason: "entry \(entry.name) fails its CRC-32 check (stored \(String(format: "%08x", entry.crc32)), computed \(String(format: "%08x", actual)))")
        }
        return bytes
    }

    /// Zero-copy view of a member's bytes (valid while the archive is alive), unchecked.
    public func data(_ entry: ZipEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[entry.dataOffset..<(entry.dataOffset + entry.size)])
    }
}

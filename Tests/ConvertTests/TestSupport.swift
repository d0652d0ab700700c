import ByteLatent
import Foundation
import XCTest
@testable import ByteLatentConvert
import Safetensors
import TestSupport
import JSONSupport

/// Tests/Fixtures (located by TestSupport's `Fixtures`, the one locator of the test targets).
let fixtures = Fixtures.root.path

let hubTiny = fixtures + "/hub-tiny"
let hubTinyExpected = fixtures + "/hub-tiny-expected"
/// torch's `.to(torch.bfloat16)` / `.to(torch.float16)` of the reference conversion (make_hub_checkpoint.py).
let hubTinyExpectedDTypes = fixtures + "/hub-tiny-expected-dtypes"

/// A fresh temporary directory per test, removed in tearDown.
class ConvertTestCase: XCTestCase {
    var tmp = ""

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.path + "/convert-tests-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tmp)
    }

    /// A writable copy of the hub fixture.
    func copyHub(_ name: String = "src") throws -> String {
        let dst = tmp + "/" + name
        try FileManager.default.copyItem(atPath: hubTiny, toPath: dst)
        return dst
    }

    /// Entries of `tmp` (to check that nothing was left behind).
    func tmpListing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: tmp).sorted()
    }

    func assertConvertError<T>(_ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line,
                               _ check: (ConvertError) -> Bool) {
        do {
            _ = try body()
            XCTFail("expected a ConvertError", file: file, line: line)
        } catch let e as ConvertError {
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        } catch {
            XCTFail("expected a ConvertError, got \(error)", file: file, line: line)
        }
    }
}

/// Compares two JSON values field by field (numbers numerically); returns the differences.
func jsonDifferences(_ a: JSONValue, _ b: JSONValue, path: String = "$") -> [String] {
    switch (a, b) {
    case let (.object(x), .object(y)):
        var out: [String] = []
        let kx = Set(x.map(\.0)), ky = Set(y.map(\.0))
        for k in kx.subtracting(ky).sorted() { out.append("\(path).\(k): only in the first") }
        for k in ky.subtracting(kx).sorted() { out.append("\(path).\(k): only in the second") }
        for (k, v) in x where ky.contains(k) { out += jsonDifferences(v, b[k]!, path: "\(path).\(k)") }
        return out
    case let (.array(x), .array(y)):
        guard x.count == y.count else { return ["\(path): \(x.count) vs \(y.count) elements"] }
        return zip(x, y).enumerated().flatMap { jsonDifferences($1.0, $1.1, path: "\(path)[\($0)]") }
    default:
        if let p = a.doubleValue, let q = b.doubleValue { return p == q ? [] : ["\(path): \(p) vs \(q)"] }
        return a == b ? [] : ["\(path): \(a.serialized()) vs \(b.serialized())"]
    }
}

/// CRC-32 computed bit by bit (independent of the reader's table-driven one).
func bitwiseCRC32(_ bytes: [UInt8]) -> Int {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    return Int(c ^ 0xFFFF_FFFF)
}

/// A zip archive of stored entries with their CRC-32s, optionally with ZIP64 records everywhere.
func makeZip(_ entries: [(String, [UInt8])], zip64: Bool) -> [UInt8] {
    var out: [UInt8] = []
    func u16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func u32(_ v: Int) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    func u64(_ v: Int) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    var offsets: [Int] = []
    for (name, data) in entries {
        offsets.append(out.count)
        u32(0x0403_4b50); u16(zip64 ? 45 : 20); u16(0); u16(0); u16(0); u16(0); u32(bitwiseCRC32(data))
        u32(zip64 ? 0xFFFF_FFFF : data.count); u32(zip64 ? 0xFFFF_FFFF : data.count)
        u16(name.utf8.count); u16(zip64 ? 20 : 0)
        out += Array(name.utf8)
        if zip64 { u16(1); u16(16); u64(data.count); u64(data.count) }
        out += data
    }
    let cdStart = out.count
    for ((name, data), off) in zip(entries, offsets) {
        u32(0x0201_4b50); u16(45); u16(zip64 ? 45 : 20); u16(0); u16(0); u16(0); u16(0); u32(bitwiseCRC32(data))
        u32(zip64 ? 0xFFFF_FFFF : data.count); u32(zip64 ? 0xFFFF_FFFF : data.count)
        u16(name.utf8.count); u16(zip64 ? 28 : 0); u16(0); u16(0); u16(0); u32(0)
        u32(zip64 ? 0xFFFF_FFFF : off)
        out += Array(name.utf8)
        if zip64 { u16(1); u16(24); u64(data.count); u64(data.count); u64(off) }
    }
    let cdSize = out.count - cdStart
    if zip64 {
        let eocd64 = out.count
        u32(0x0606_4b50); u64(44); u16(45); u16(45); u32(0); u32(0); u64(entries.count); u64(entries.count); u64(cdSize); u64(cdStart)
        u32(0x0706_4b50); u32(0); u64(eocd64); u32(1)
        u32(0x0605_4b50); u16(0); u16(0); u16(0xFFFF); u16(0xFFFF); u32(0xFFFF_FFFF); u32(0xFFFF_FFFF); u16(0)
    } else {
        u32(0x0605_4b50); u16(0); u16(0); u16(entries.count); u16(entries.count); u32(cdSize); u32(cdStart); u16(0)
    }
    return out
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

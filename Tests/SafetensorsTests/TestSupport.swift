import Foundation
import XCTest
@testable import Safetensors

/// A fresh temporary directory per test, removed in tearDown.
class TempDirTestCase: XCTestCase {
    var tmp: String = ""

    override func setUpWithError() throws {
        let base = FileManager.default.temporaryDirectory.path
        tmp = base + "/safetensors-tests-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tmp)
    }

    func path(_ name: String) -> String { tmp + "/" + name }

    /// Writes raw bytes to a file in the temp directory and returns its path.
    @discardableResult
    func writeRaw(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try writeBytes(bytes, to: p)
        return p
    }

    /// Builds a safetensors file from a header JSON string (no padding) and data bytes.
    @discardableResult
    func writeFile(_ name: String, header: String, data: [UInt8] = [], headerLength: UInt64? = nil) throws -> String {
        try writeRaw(name, rawFile(header: header, data: data, headerLength: headerLength))
    }

    /// The files in the temp directory.
    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: tmp).sorted()
    }
}

func rawFile(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    let n = headerLength ?? UInt64(h.count)
    withUnsafeBytes(of: n.littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

func bytesOf<T>(_ values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}

/// Asserts that `body` throws a `SafetensorsError` matching `matches`, and that its message names `mentions`.
func assertThrows<R>(_ body: @autoclosure () throws -> R, mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line,
                     _ matches: (SafetensorsError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
    } catch let e as SafetensorsError {
        XCTAssertTrue(matches(e), "unexpected error case: \(e)", file: file, line: line)
        for m in mentions {
            XCTAssertTrue(e.description.contains(m), "message does not mention '\(m)': \(e.description)", file: file, line: line)
        }
    } catch {
        XCTFail("not a SafetensorsError: \(error)", file: file, line: line)
    }
}

/// Replaces the file at `path` with `bytes` using plain POSIX calls (unlink first: much faster
/// than Foundation's `Data.write` on ext4, which flushes when a file is replaced).
func writeBytes(_ bytes: [UInt8], to path: String) throws {
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    if n != bytes.count { throw POSIXError(.EIO) }
}

import Foundation
import XCTest
@testable import Safetensors

final class ReaderTests: TempDirTestCase {
    func testReadsHandWrittenFile() throws {
        let a: [Float] = [1, -2, 3.5, 0]
        let b: [UInt16] = [0x3F80, 0xC000, 0x7F80] // bf16 1, -2, inf
        let c: [Int64] = [7, -9]
        let header = #"{"__metadata__":{"format":"pt","k":"v"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"I64","shape":[2],"data_offsets":[22,38]}}"#
        let p = try writeFile("x.safetensors", header: header, data: bytesOf(a) + bytesOf(b) + bytesOf(c))
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.metadata, ["format": "pt", "k": "v"])
        XCTAssertEqual(f.tensorInfos.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(f.info("b"), TensorInfo(name: "b", dtype: .bf16, shape: [3], dataOffsets: 16..<22))
        let ta = try f.tensor("a")
        XCTAssertEqual(try ta.floats(), a)
        XCTAssertEqual(ta.rowCount, 2)
        XCTAssertEqual(ta.rowLength, 2)
        XCTAssertEqual(try f.tensor("b").floats(), [1, -2, .infinity])
        XCTAssertEqual(try f.tensor("c").int64s(), [7, -9])
        assertThrows(try f.tensor("c").floats()) { if case .unsupportedDType = $0 { return true }; return false }
        assertThrows(try f.tensor("a").int64s()) { if case .unsupportedDType = $0 { return true }; return false }
    }

    func testZeroCopyF32Pointer() throws {
        // 8-byte aligned header: 8 + len(header) multiple of 8 → data section aligned in the mapping.
        var header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let vals: [Float] = [1, 2, 3]
        let p = try writeFile("z.safetensors", header: header, data: bytesOf(vals))
        let f = try SafetensorsFile(path: p)
        let t = try f.tensor("w")
        let ptr = try XCTUnwrap(t.f32Pointer)
        let base = UnsafeRawPointer(f.mapping.bytes.baseAddress!)
        let raw = UnsafeRawPointer(ptr)
        XCTAssertTrue(raw >= base && raw + 12 <= base + f.fileSize, "f32Pointer must point inside the mapping")
        XCTAssertEqual(raw, base + f.dataStart)
        XCTAssertEqual(raw, t.bytes.baseAddress)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: ptr, count: 3)), vals)
    }

    func testTensorOutlivesFile() throws {
        let vals: [Float] = [4, 5]
        let p = try writeFile("o.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: bytesOf(vals))
        var f: SafetensorsFile? = try SafetensorsFile(path: p)
        let t = try f!.tensor("w")
        f = nil
        XCTAssertEqual(try t.floats(), vals)
    }

    func testTensorOverCallerMemory() throws {
        final class Storage {
            let raw: UnsafeMutableRawBufferPointer
            init(_ v: [UInt16]) {
                raw = .allocate(byteCount: v.count * 2, alignment: 16)
                v.withUnsafeBytes { raw.copyMemory(from: $0) }
            }
            deinit { raw.deallocate() }
        }
        let storage = Storage([0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0])
        let t = try Tensor(info: TensorInfo(name: "m", dtype: .bf16, shape: [3, 2], dataOffsets: 0..<12),
                           bytes: UnsafeRawBufferPointer(storage.raw), owner: storage)
        XCTAssertEqual(try t.floats(), [1, 2, 3, 4, 5, 6])
        var out = [Float](repeating: 0, count: 4)
        try out.withUnsafeMutableBufferPointer { try t.gatherRows([2, 0], into: $0.baseAddress!) }
        XCTAssertEqual(out, [5, 6, 1, 2])
        assertThrows(try Tensor(info: TensorInfo(name: "m", dtype: .bf16, shape: [4, 2], dataOffsets: 0..<16),
                                bytes: UnsafeRawBufferPointer(storage.raw), owner: storage)) {
            if case .byteCountMismatch(_, "m", 16, 12) = $0 { return true }; return false
        }
    }
}

import Foundation
import XCTest
@testable import Safetensors
import JSONSupport
import TestSupport

/// Reads files written by Python's `safetensors` / `huggingface_hub`
/// (Converters/reference/make_safetensors_fixture.py) and checks every element bit-exactly.
final class FixtureTests: XCTestCase {
    static let fixtures = Fixtures.path("safetensors")

    /// Expected values, parsed with the module's own JSON parser (bit patterns of F64 exceed Int64).
    struct Expected {
        var dtype: DType
        var shape: [Int]
        var bits: [UInt64]
        var f32Bits: [UInt32]
        var ints: [Int64]
    }

    static let torchDTypes: [String: DType] = [
        "float64": .f64, "float32": .f32, "float16": .f16, "bfloat16": .bf16, "int64": .i64,
        "int32": .i32, "int16": .i16, "int8": .i8, "uint8": .u8, "bool": .bool,
    ]

    func loadExpected(_ file: String) throws -> (metadata: [String: String], tensors: [String: Expected]) {
        let path = FixtureTests.fixtures + "/" + file
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "missing fixture \(path)")
        let json = try data.withUnsafeBytes { try JSONParser.parse($0.bindMemory(to: UInt8.self)) }
        guard case let .object(top) = json else {
            XCTFail("fixture \(path) is not a JSON object")
            return ([:], [:])
        }
        var metadata: [String: String] = [:]
        var tensors: [String: Expected] = [:]
        func ints(_ v: JSONValue?) -> [String] {
            guard case let .array(a)? = v else { return [] }
            return a.compactMap { if case let .number(n) = $0 { return n.text }; return nil }
        }
        for (k, v) in top {
            if k == "metadata", case let .object(m) = v {
                for (mk, mv) in m { if case let .string(s) = mv { metadata[mk] = s } }
            }
            if k == "tensors", case let .object(ts) = v {
                for (name, entry) in ts {
                    guard case let .object(fields) = entry else { XCTFail("\(file): tensor \(name) is not an object"); continue }
                    let f = Dictionary(fields.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
                    guard case let .string(dt)? = f["dtype"], let dtype = FixtureTests.torchDTypes[dt] else {
                        XCTFail("unknown dtype for \(name)"); continue
                    }
                    tensors[name] = Expected(dtype: dtype, shape: ints(f["shape"]).map { Int($0)! },
                                             bits: ints(f["bits"]).map { UInt64($0)! },
                                             f32Bits: ints(f["f32_bits"]).map { UInt32($0)! },
                                             ints: ints(f["ints"]).map { Int64($0)! })
                }
            }
        }
        return (metadata, tensors)
    }

    func check(_ t: Tensor, _ e: Expected, file: StaticString = #filePath, line: UInt = #line) throws {
        let name = t.name
        XCTAssertEqual(t.dtype, e.dtype, name, file: file, line: line)
        XCTAssertEqual(t.shape, e.shape, name, file: file, line: line)
        XCTAssertEqual(t.bytes.count, t.info.byteCount)
        if e.dtype.isFloatingPoint {
            let w = e.dtype.byteSize
            let raw: [UInt64] = (0..<t.info.elementCount).map { i in
                var v: UInt64 = 0
                for b in 0..<w { v |= UInt64(t.bytes[i * w + b]) << (8 * b) }
                return v
            }
            XCTAssertEqual(raw, e.bits, "\(name): raw bits", file: file, line: line)
            let floats = try t.floats()
            XCTAssertEqual(floats.map(\.bitPattern), e.f32Bits, "\(name): floats() bits", file: file, line: line)
            // copyFloats / copyRows / gatherRows / addRow agree bit-exactly.
            let n = t.info.elementCount
            var buf = [Float](repeating: 0, count: n)
            try buf.withUnsafeMutableBufferPointer { try t.copyFloats(into: $0.baseAddress!) }
            XCTAssertEqual(buf.map(\.bitPattern), e.f32Bits, "\(name): copyFloats", file: file, line: line)
            let len = t.rowLength
            if n > 0 {
                let rows = t.rowCount
                let order = Array((0..<rows).reversed()) + [0]
                var g = [Float](repeating: 0, count: order.count * len)
                try g.withUnsafeMutableBufferPointer { try t.gatherRows(order, into: $0.baseAddress!) }
                for (k, r) in order.enumerated() {
                    XCTAssertEqual(g[k * len ..< (k + 1) * len].map(\.bitPattern), Array(e.f32Bits[r * len ..< (r + 1) * len]), "\(name) gather", file: file, line: line)
                }
                if rows > 1 {
                    var c = [Float](repeating: 0, count: (rows - 1) * len)
                    try c.withUnsafeMutableBufferPointer { try t.copyRows(1..<rows, into: $0.baseAddress!) }
                    XCTAssertEqual(c.map(\.bitPattern), Array(e.f32Bits[len...]), "\(name) copyRows", file: file, line: line)
                }
                try t.validateFloatRows()
                for r in 0..<rows {
                    // -0.0 + x == x bit-exactly for every x (including -0.0 and NaN payloads on x86).
                    var acc = [Float](repeating: -0.0, count: len)
                    acc.withUnsafeMutableBufferPointer { t.addRow(r, to: $0.baseAddress!) }
                    let want = e.f32Bits[r * len ..< (r + 1) * len].map { Float(bitPattern: $0) }
                    for (a, b) in zip(acc, want) {
                        if b.isNaN { XCTAssertTrue(a.isNaN, "\(name) addRow NaN", file: file, line: line) } else { XCTAssertEqual(a.bitPattern, b.bitPattern, "\(name) addRow", file: file, line: line) }
                    }
                }
            }
        } else {
            XCTAssertEqual(try t.int64s(), e.ints, name, file: file, line: line)
        }
    }

    func testPythonFileBitExact() throws {
        let (meta, expected) = try loadExpected("python-expected.json")
        let f = try SafetensorsFile(path: FixtureTests.fixtures + "/python.safetensors")
        XCTAssertEqual(f.metadata, meta)
        XCTAssertEqual(f.metadata["note"], "unicode ✓ \"quoted\"")
        XCTAssertEqual(Set(f.tensorInfos.map(\.name)), Set(expected.keys))
        XCTAssertEqual(f.tensorInfos.map(\.dataOffsets.lowerBound), f.tensorInfos.map(\.dataOffsets.lowerBound).sorted())
        XCTAssertEqual(expected.count, 15)
        for (name, e) in expected { try check(try f.tensor(name), e) }
        // The Python writer aligns the data section: F32 tensors are true zero copy.
        XCTAssertNotNil(try f.tensor("f32.odd").f32Pointer)
        XCTAssertNil(try f.tensor("bf16.embedding").f32Pointer)
        // Specials survive exactly (spot checks independent of the JSON).
        let f16 = try f.tensor("f16.specials").floats()
        XCTAssertEqual(f16[0], .infinity)
        XCTAssertEqual(f16[1], -.infinity)
        XCTAssertTrue(f16[2].isNaN)
        XCTAssertEqual(f16[3], Float(Float16.leastNonzeroMagnitude))
        XCTAssertEqual(f16[5].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(try f.tensor("f32.scalar").floats(), [2.5])
        XCTAssertEqual(try f.tensor("f32.empty").floats(), [])
    }

    func testHuggingFaceShardedCheckpoint() throws {
        let (_, expected) = try loadExpected("sharded-expected.json")
        let dir = FixtureTests.fixtures + "/sharded"
        for p in [dir, dir + "/model.safetensors.index.json"] {
            let ck = try SafetensorsCheckpoint(path: p)
            XCTAssertEqual(ck.names, expected.keys.sorted())
            XCTAssertEqual(ck.files.count, 2)
            XCTAssertEqual(ck.files.map { ($0.path as NSString).lastPathComponent }, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
            XCTAssertEqual(ck.metadata["format"], "pt")
            XCTAssertEqual(ck.metadata["total_size"], "184")
            for (name, e) in expected { try check(try ck.tensor(name), e) }
        }
        // A single shard opens as a checkpoint of its own.
        let one = try SafetensorsCheckpoint(path: dir + "/model-00002-of-00002.safetensors")
        XCTAssertEqual(one.names, ["layers.1.w", "norm.weight"])
    }
}

import Foundation
import XCTest
@testable import Safetensors

/// Deterministic xorshift64* PRNG for tests.
struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 32) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in byte() } }
}

final class WriterTests: TempDirTestCase {
    func testRoundTripAllDTypesOddShapesScalarEmptyMetadata() throws {
        var rng = TestRNG(seed: 42)
        let shapes: [[Int]] = [[3, 5], [7], [], [0], [2, 0, 3], [1, 1, 1, 3], [5, 3]]
        var specs: [TensorSpec] = []
        var payloads: [[UInt8]] = []
        for dtype in DType.allCases {
            for (k, shape) in shapes.enumerated() {
                let spec = TensorSpec(name: "t.\(dtype.rawValue).\(k)", dtype: dtype, shape: shape)
                specs.append(spec)
                var bytes = rng.bytes(spec.byteCount)
                if dtype == .bool { bytes = bytes.map { $0 & 1 } }
                payloads.append(bytes)
            }
        }
        let meta = ["format": "pt", "unicode ✓": "quote \" backslash \\ newline \n tab \t ctrl \u{1}"]
        let p = path("all.safetensors")
        try SafetensorsWriter.write(path: p, tensors: specs, metadata: meta) { i, sink in
            // Write in two pieces to exercise several calls per tensor.
            let b = payloads[i]
            let half = b.count / 2
            try b.withUnsafeBytes { raw in
                try sink.write(UnsafeRawBufferPointer(rebasing: raw[0..<half]))
                try sink.write(UnsafeRawBufferPointer(rebasing: raw[half...]))
            }
        }
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.metadata, meta)
        XCTAssertEqual(f.dataStart % 8, 0, "header padded to a multiple of 8")
        XCTAssertEqual(Set(f.tensorInfos.map(\.name)), Set(specs.map(\.name)))
        for (spec, payload) in zip(specs, payloads) {
            let t = try f.tensor(spec.name)
            XCTAssertEqual(t.dtype, spec.dtype)
            XCTAssertEqual(t.shape, spec.shape)
            XCTAssertEqual(Array(t.bytes), payload, spec.name)
            XCTAssertEqual(t.bytes.count, spec.byteCount)
            if spec.dtype.isFloatingPoint {
                let fl = try t.floats()
                XCTAssertEqual(fl.count, t.info.elementCount)
            } else {
                let ints = try t.int64s()
                XCTAssertEqual(ints.count, t.info.elementCount)
            }
        }
        // scalar
        let s = try f.tensor("t.F32.2")
        XCTAssertEqual(s.rowCount, 1)
        XCTAssertEqual(s.rowLength, 1)
        XCTAssertEqual(s.info.elementCount, 1)
        // empty
        let e = try f.tensor("t.F32.4")
        XCTAssertEqual(e.info.elementCount, 0)
        XCTAssertEqual(e.rowCount, 2)
        XCTAssertEqual(e.rowLength, 0)
        XCTAssertEqual(try e.floats(), [])
        // Integer values decode with sign extension.
        let i16 = try f.tensor("t.I16.1")
        let raw = payloads[specs.firstIndex { $0.name == "t.I16.1" }!]
        let expect: [Int64] = stride(from: 0, to: raw.count, by: 2).map { Int64(Int16(bitPattern: UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8)) }
        XCTAssertEqual(try i16.int64s(), expect)
    }

    func testFloatsConvenienceWritesF32BF16F16F64() throws {
        let values: [Float] = [0, -0.0, 1, -1.5, 3.14159, 65504, 1e-7, .infinity, -.infinity, 1.0 / 3.0, 70000]
        for dtype in [DType.f32, .bf16, .f16, .f64] {
            let p = path("c-\(dtype.rawValue).safetensors")
            try SafetensorsWriter.write(path: p, floats: [(name: "v", shape: [values.count], values: values)], dtype: dtype, metadata: ["d": dtype.rawValue])
            let t = try SafetensorsFile(path: p).tensor("v")
            XCTAssertEqual(t.dtype, dtype)
            let got = try t.floats()
            let expected: [Float]
            switch dtype {
            case .f32, .f64: expected = values
            case .bf16: expected = values.map { bf16ToFloat(floatToBF16Bits($0)) }
            default: expected = values.map { Float(Float16($0)) }
            }
            XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), dtype.rawValue)
        }
        assertThrows(try SafetensorsWriter.write(path: path("bad.safetensors"), floats: [(name: "v", shape: [2, 2], values: [1, 2, 3])])) {
            if case .valueCountMismatch(_, "v", 4, 3) = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: path("bad.safetensors"), floats: [(name: "v", shape: [1], values: [1])], dtype: .i32)) {
            if case .writeFailed = $0 { return true }; return false
        }
        XCTAssertEqual(try listing(), ["c-BF16.safetensors", "c-F16.safetensors", "c-F32.safetensors", "c-F64.safetensors"])
    }

    func testBF16RoundingMatchesTorch() {
        // Round to nearest even on the dropped 16 bits.
        XCTAssertEqual(floatToBF16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80) // tie, even stays
        XCTAssertEqual(floatToBF16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82) // tie, odd rounds up
        XCTAssertEqual(floatToBF16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(floatToBF16Bits(Float(bitPattern: 0x7F7F_FFFF)), 0x7F80) // overflow → inf
        XCTAssertEqual(floatToBF16Bits(.nan) & 0x7FC0, 0x7FC0)
        XCTAssertEqual(floatToBF16Bits(-.infinity), 0xFF80)
    }

    func testF16ConversionExhaustive() {
        for h in 0...0xFFFF {
            let bits = UInt16(h)
            let mine = f16BitsToF32Bits(bits)
            let ref = Float(Float16(bitPattern: bits))
            if ref.isNaN {
                // Exact NaN mapping: sign kept, payload shifted, not quietened.
                let expected = UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | UInt32(bits & 0x3FF) << 13
                XCTAssertEqual(mine, expected)
                XCTAssertTrue(Float(bitPattern: mine).isNaN)
            } else {
                XCTAssertEqual(mine, ref.bitPattern, "f16 0x\(String(h, radix: 16))")
                // And back: every non-NaN half round-trips through Float exactly.
                XCTAssertEqual(floatToF16Bits(Float(bitPattern: mine)), bits)
            }
        }
        // f32 → f16 rounding agrees with Swift's Float16 (round to nearest even) on random inputs.
        var rng = TestRNG(seed: 7)
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if f.isNaN { continue }
            XCTAssertEqual(floatToF16Bits(f), Float16(f).bitPattern, "\(f)")
        }
    }

    func testThrowingProducerLeavesNothing() throws {
        struct Boom: Error {}
        let p = path("x.safetensors")
        let specs = [TensorSpec(name: "a", dtype: .f32, shape: [4]), TensorSpec(name: "b", dtype: .f32, shape: [4])]
        XCTAssertThrowsError(try SafetensorsWriter.write(path: p, tensors: specs) { i, sink in
            if i == 1 { throw Boom() }
            try sink.write(contentsOf: [Float](repeating: 1, count: 4))
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try listing(), [], "no file and no temporary file left")

        // An existing file at the path is left untouched.
        try SafetensorsWriter.write(path: p, floats: [(name: "old", shape: [1], values: [9])])
        let before = try Data(contentsOf: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try SafetensorsWriter.write(path: p, tensors: specs) { _, _ in throw Boom() })
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), before)
        XCTAssertEqual(try listing(), ["x.safetensors"])
    }

    func testByteCountMismatchIsAnError() throws {
        let p = path("m.safetensors")
        let specs = [TensorSpec(name: "a", dtype: .bf16, shape: [3])]
        // Too few bytes.
        assertThrows(try SafetensorsWriter.write(path: p, tensors: specs) { _, sink in
            try sink.write(contentsOf: [UInt16(1), 2])
        }, mentions: ["m.safetensors", "'a'"]) {
            if case .producerByteCountMismatch(_, "a", 6, 4) = $0 { return true }; return false
        }
        // Too many bytes (caught at the write that overflows).
        assertThrows(try SafetensorsWriter.write(path: p, tensors: specs) { _, sink in
            try sink.write(contentsOf: [UInt16](repeating: 0, count: 4))
        }) {
            if case .producerByteCountMismatch(_, "a", 6, 8) = $0 { return true }; return false
        }
        // A sink used after its producer returned.
        var escaped: TensorSink?
        assertThrows(try SafetensorsWriter.write(path: p, tensors: specs + [TensorSpec(name: "b", dtype: .u8, shape: [1])]) { i, sink in
            if i == 0 { escaped = sink; try sink.write(contentsOf: [UInt16](repeating: 0, count: 3)) } else { try escaped!.write(contentsOf: [UInt8(1)]) }
        }) {
            if case .writeFailed = $0 { return true }; return false
        }
        XCTAssertEqual(try listing(), [])
    }

    func testInvalidSpecs() throws {
        let p = path("s.safetensors")
        assertThrows(try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "a", dtype: .f32, shape: [1]), TensorSpec(name: "a", dtype: .f32, shape: [1])]) { _, _ in }) {
            if case .duplicateTensorName(_, "a") = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "n", dtype: .f32, shape: [-1])]) { _, _ in }) {
            if case .invalidTensorSpec(_, "n", _) = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "o", dtype: .f64, shape: [Int.max / 4, 3])]) { _, _ in }) {
            if case .invalidTensorSpec(_, "o", _) = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "__metadata__", dtype: .f32, shape: [])]) { _, _ in }) {
            if case .invalidTensorSpec = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "", dtype: .f32, shape: [])]) { _, _ in }) {
            if case .invalidTensorSpec = $0 { return true }; return false
        }
        assertThrows(try SafetensorsWriter.write(path: path("no/such/dir/x.safetensors"), tensors: []) { _, _ in }) {
            if case .writeFailed = $0 { return true }; return false
        }
        XCTAssertEqual(try listing(), [])
    }

    func testShardedWriteReadsBackAsCheckpoint() throws {
        let specs = (0..<7).map { TensorSpec(name: "layer.\($0).w", dtype: $0 % 2 == 0 ? .bf16 : .f32, shape: [$0 + 1, 3]) }
        func payload(_ i: Int) -> [UInt8] { (0..<specs[i].byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
        let names = try SafetensorsWriter.writeSharded(directory: tmp, tensors: specs, metadata: ["format": "pt"], maxShardBytes: 40) { i, sink in
            try sink.write(contentsOf: payload(i))
        }
        XCTAssertGreaterThan(names.count, 2)
        XCTAssertEqual(names.last, "model.safetensors.index.json")
        let shardCount = names.count - 1
        XCTAssertEqual(names.first, "model-00001-of-\(String(repeating: "0", count: 5 - String(shardCount).count))\(shardCount).safetensors")
        XCTAssertEqual(try listing(), names.sorted())
        // Each shard within the limit unless it holds a single bigger tensor.
        for n in names.dropLast() {
            let f = try SafetensorsFile(path: path(n))
            let size = f.tensorInfos.reduce(0) { $0 + $1.byteCount }
            XCTAssertTrue(size <= 40 || f.tensorInfos.count == 1, "\(n): \(size) bytes")
        }
        for p in [tmp, path("model.safetensors.index.json")] {
            let ck = try SafetensorsCheckpoint(path: p)
            XCTAssertEqual(ck.names, specs.map(\.name).sorted())
            XCTAssertEqual(ck.files.count, shardCount)
            XCTAssertEqual(ck.metadata["format"], "pt")
            XCTAssertEqual(ck.metadata["total_size"], String(specs.reduce(0) { $0 + $1.byteCount }))
            for (i, s) in specs.enumerated() {
                XCTAssertEqual(Array(try ck.tensor(s.name).bytes), payload(i))
                XCTAssertEqual(ck.info(s.name)?.shape, s.shape)
            }
        }
        // Index JSON is what HF writes.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("model.safetensors.index.json")))) as! [String: Any]
        XCTAssertEqual((index["metadata"] as? [String: Any])?["total_size"] as? Int, specs.reduce(0) { $0 + $1.byteCount })
        XCTAssertEqual((index["weight_map"] as? [String: String])?.count, specs.count)

        // One shard ⇒ model.safetensors, and the now-stale index is removed.
        for n in names { try FileManager.default.removeItem(atPath: path(n)) }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path("model.safetensors.index.json")))
        let single = try SafetensorsWriter.writeSharded(directory: tmp, tensors: specs, maxShardBytes: 1 << 20) { i, sink in
            try sink.write(contentsOf: payload(i))
        }
        XCTAssertEqual(single, ["model.safetensors"])
        XCTAssertEqual(try listing(), ["model.safetensors"])
        XCTAssertEqual(try SafetensorsCheckpoint(path: tmp).names.count, specs.count)
    }

    func testShardedThrowingProducerLeavesNothing() throws {
        struct Boom: Error {}
        let specs = (0..<6).map { TensorSpec(name: "t\($0)", dtype: .u8, shape: [10]) }
        XCTAssertThrowsError(try SafetensorsWriter.writeSharded(directory: tmp, tensors: specs, maxShardBytes: 20) { i, sink in
            if i == 5 { throw Boom() }
            try sink.write(contentsOf: [UInt8](repeating: 1, count: 10))
        })
        XCTAssertEqual(try listing(), [])
        assertThrows(try SafetensorsWriter.writeSharded(directory: path("missing"), tensors: specs, maxShardBytes: 20) { _, _ in }) {
            if case .writeFailed = $0 { return true }; return false
        }
    }
}

import Foundation
import XCTest
@testable import Safetensors

/// Random mutations of a valid file: every one must give a typed error or a consistent file,
/// never a crash. Deterministic (fixed seeds, own PRNG).
final class FuzzTests: TempDirTestCase {
    /// A valid file with several dtypes, a scalar, an empty tensor and metadata.
    func baseFile() throws -> [UInt8] {
        let p = path("base.safetensors")
        let specs = [TensorSpec(name: "emb", dtype: .bf16, shape: [5, 3]), TensorSpec(name: "w", dtype: .f32, shape: [2, 3]),
                     TensorSpec(name: "h", dtype: .f16, shape: [4]), TensorSpec(name: "s", dtype: .f64, shape: []),
                     TensorSpec(name: "e", dtype: .f32, shape: [0, 2]), TensorSpec(name: "ids", dtype: .i64, shape: [3]),
                     TensorSpec(name: "m", dtype: .bool, shape: [2, 2])]
        var rng = TestRNG(seed: 99)
        try SafetensorsWriter.write(path: p, tensors: specs, metadata: ["format": "pt", "k": "v"]) { i, sink in
            try sink.write(contentsOf: rng.bytes(specs[i].byteCount))
        }
        defer { try? FileManager.default.removeItem(atPath: p) }
        return Array(try Data(contentsOf: URL(fileURLWithPath: p)))
    }

    static let snippets = ["{", "}", "[", "]", "\"", ",", ":", "-1", "0", "1e999", "18446744073709551616", "null", "true",
                           "\"F32\"", "\"BF16\"", "\"X\"", "[0,0]", "[]", "{}", "\\u0000", "\\ud800", "\u{FF}", "9223372036854775807",
                           "\"data_offsets\"", "\"shape\"", "\"dtype\"", "\"__metadata__\"", "1.5", " "]

    /// One random mutation of `base` (whose header is `headerLen` bytes).
    func mutate(_ base: [UInt8], headerLen: Int, _ rng: inout TestRNG) -> [UInt8] {
        var b = base
        switch rng.int(0..<7) {
        case 0: // flip bytes in the header
            for _ in 0..<rng.int(1..<5) { b[8 + rng.int(0..<headerLen)] ^= UInt8(1 << rng.int(0..<8)) }
        case 1: // random bytes in the header
            for _ in 0..<rng.int(1..<4) { b[8 + rng.int(0..<headerLen)] = rng.byte() }
        case 2: // random header length
            let n: UInt64
            switch rng.int(0..<4) {
            case 0: n = rng.next()
            case 1: n = UInt64(rng.int(0..<(b.count + 16)))
            case 2: n = UInt64(headerLen) &+ UInt64(bitPattern: Int64(rng.int(-8..<9)))
            default: n = UInt64(rng.int(0..<200_000_000))
            }
            withUnsafeBytes(of: n.littleEndian) { for i in 0..<8 { b[i] = $0[i] } }
        case 3: // truncate
            b = Array(b.prefix(rng.int(0..<b.count)))
        case 4, 5: // JSON edits with length prefix fixed up: replace a range with a snippet, or delete a range
            var h = Array(b[8..<(8 + headerLen)])
            let data = Array(b[(8 + headerLen)...])
            for _ in 0..<rng.int(1..<3) {
                let at = rng.int(0..<h.count)
                let len = min(rng.int(0..<6), h.count - at)
                let snip = rng.int(0..<3) == 0 ? [] : Array(FuzzTests.snippets[rng.int(0..<FuzzTests.snippets.count)].utf8)
                h.replaceSubrange(at..<(at + len), with: snip)
            }
            b = []
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { b.append(contentsOf: $0) }
            b += h + data
        default: // change a number in the header to a random value
            var h = String(decoding: b[8..<(8 + headerLen)], as: UTF8.self)
            let digits = h.indices.filter { h[$0].isNumber }
            if let at = digits.isEmpty ? nil : digits[rng.int(0..<digits.count)] {
                let repl = ["0", "1", "7", "99", "-3", "4096", "100000000000", "3.0"][rng.int(0..<8)]
                h.replaceSubrange(at...at, with: repl)
            }
            let hb = Array(h.utf8)
            b = []
            withUnsafeBytes(of: UInt64(hb.count).littleEndian) { b.append(contentsOf: $0) }
            b += hb + Array(base[(8 + headerLen)...])
        }
        return b
    }

    /// Uses everything a successfully opened file offers; checks invariants.
    func exercise(_ infos: [TensorInfo], tensors: [Tensor], fileSize: Int, dataStart: Int) throws {
        var scratch = [Float](repeating: 0, count: 256)
        for (info, t) in zip(infos, tensors) {
            XCTAssertLessThanOrEqual(dataStart + info.dataOffsets.upperBound, fileSize)
            XCTAssertEqual(info.byteCount, info.dataOffsets.count)
            XCTAssertEqual(t.bytes.count, info.byteCount)
            if info.dtype.isFloatingPoint {
                let f = try t.floats()
                XCTAssertEqual(f.count, info.elementCount)
                if t.rowCount > 0 && t.rowLength <= 256 {
                    try t.validateFloatRows()
                    scratch.withUnsafeMutableBufferPointer { t.addRow(t.rowCount - 1, to: $0.baseAddress!) }
                    if info.elementCount <= 256 {
                        try scratch.withUnsafeMutableBufferPointer { try t.copyRows(0..<t.rowCount, into: $0.baseAddress!) }
                    }
                }
            } else {
                XCTAssertEqual(try t.int64s().count, info.elementCount)
            }
        }
    }

    func testRandomMutationsInMemory() throws {
        let base = try baseFile()
        let headerLen = Int(base.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = TestRNG(seed: 0x5AFE_7E45)
        var opened = 0, failed = 0
        var kinds: [String: Int] = [:]
        for _ in 0..<4000 {
            let m = mutate(base, headerLen: headerLen, &rng)
            try m.withUnsafeBytes { raw in
                do {
                    let parsed = try SafetensorsFile.parseHeader(raw, path: "fuzz")
                    opened += 1
                    let ds = 8 + parsed.headerLength
                    let tensors = parsed.infos.map { Tensor(info: $0, bytes: UnsafeRawBufferPointer(rebasing: raw[(ds + $0.dataOffsets.lowerBound)..<(ds + $0.dataOffsets.upperBound)]), owner: nil, path: "fuzz") }
                    try exercise(parsed.infos, tensors: tensors, fileSize: raw.count, dataStart: ds)
                } catch let e as SafetensorsError {
                    failed += 1
                    kinds[Mirror(reflecting: e).children.first?.label ?? "?", default: 0] += 1
                    XCTAssertTrue(e.description.hasPrefix("fuzz"), e.description)
                }
            }
        }
        // The mutations reach most of the header checks.
        XCTAssertGreaterThanOrEqual(kinds.count, 11, "\(kinds)")
        XCTAssertEqual(opened + failed, 4000)
        XCTAssertGreaterThan(opened, 50, "some mutations should stay valid")
        XCTAssertGreaterThan(failed, 2000)
    }

    func testRandomMutationsThroughFiles() throws {
        let base = try baseFile()
        let headerLen = Int(base.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = TestRNG(seed: 12345)
        let p = path("m.safetensors")
        var opened = 0
        for _ in 0..<1500 {
            try writeBytes(mutate(base, headerLen: headerLen, &rng), to: p)
            do {
                let f = try SafetensorsFile(path: p)
                opened += 1
                try exercise(f.tensorInfos, tensors: try f.tensorInfos.map { try f.tensor($0.name) }, fileSize: f.fileSize, dataStart: f.dataStart)
            } catch is SafetensorsError {
                // expected for most mutations
            }
        }
        XCTAssertGreaterThan(opened, 0)
    }

    func testRandomIndexMutations() throws {
        try SafetensorsWriter.writeSharded(directory: tmp, tensors: (0..<4).map { TensorSpec(name: "t\($0)", dtype: .f32, shape: [4]) },
                                           maxShardBytes: 32) { _, sink in try sink.write(contentsOf: [Float](repeating: 1, count: 4)) }
        let ip = path("model.safetensors.index.json")
        let index = Array(try Data(contentsOf: URL(fileURLWithPath: ip)))
        var rng = TestRNG(seed: 777)
        for _ in 0..<1000 {
            var b = index
            for _ in 0..<rng.int(1..<4) {
                let at = rng.int(0..<b.count)
                switch rng.int(0..<3) {
                case 0: b[at] = rng.byte()
                case 1: b.remove(at: at)
                default: b.insert(contentsOf: Array(FuzzTests.snippets[rng.int(0..<FuzzTests.snippets.count)].utf8), at: at)
                }
            }
            try writeBytes(b, to: ip)
            do {
                let ck = try SafetensorsCheckpoint(path: tmp)
                for n in ck.names { _ = try ck.tensor(n).floats() }
            } catch is SafetensorsError {}
        }
    }
}

import Foundation
import XCTest
@testable import ByteLatentConvert
import Safetensors

/// Broken checkpoints end in a typed error and leave nothing behind.
final class MalformedInputTests: ConvertTestCase {
    /// Converts `src` into tmp/out expecting an error; checks that no output or temp dir remains.
    func assertFails(_ src: String, file: StaticString = #filePath, line: UInt = #line, _ check: (ConvertError) -> Bool) throws {
        let before = try tmpListing()
        assertConvertError(try Converter.convert(source: src, destination: tmp + "/out"), file: file, line: line, check)
        XCTAssertEqual(try tmpListing(), before, "output left behind", file: file, line: line)
    }

    func testTruncatedZip() throws {
        let src = try copyHub()
        let pth = src + "/entropy_model/consolidated.pth"
        let data = try Data(contentsOf: URL(fileURLWithPath: pth))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: pth))
        try assertFails(src) { if case .corruptZip = $0 { return true }; return false }
        // Cut only the last bytes (end record damaged) and inside the central directory.
        for cut in [10, 300] {
            try data.prefix(data.count - cut).write(to: URL(fileURLWithPath: pth))
            try assertFails(src) { if case .corruptZip = $0 { return true }; return false }
        }
    }

    func testLegacyTorchSaveFormat() throws {
        let src = try copyHub()
        try writeBytes([0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E] + [UInt8](repeating: 0, count: 40),
                       to: src + "/entropy_model/consolidated.pth")
        try assertFails(src) { if case .legacyTorchFormat = $0 { return true }; return false }
    }

    func testForbiddenGlobalViaGLOBAL() throws {
        // PROTO 2; GLOBAL 'os system'; SHORT_BINUNICODE 'echo pwned'; TUPLE1; REDUCE; STOP
        var pkl: [UInt8] = [0x80, 2, 0x63] + Array("os\nsystem\n".utf8)
        pkl += [0x8C, 10] + Array("echo pwned".utf8) + [0x85, 0x52, 0x2E]
        try checkForbidden(pkl, global: "os.system")
    }

    func testForbiddenGlobalViaSTACK_GLOBAL() throws {
        // PROTO 4; SHORT_BINUNICODE 'os'; SHORT_BINUNICODE 'system'; STACK_GLOBAL; ...; REDUCE; STOP
        var pkl: [UInt8] = [0x80, 4, 0x8C, 2] + Array("os".utf8) + [0x8C, 6] + Array("system".utf8) + [0x93]
        pkl += [0x8C, 10] + Array("echo pwned".utf8) + [0x85, 0x52, 0x2E]
        try checkForbidden(pkl, global: "os.system")
        // Inside an otherwise valid state dict: {'x': builtins.eval('1')}
        var nested: [UInt8] = [0x80, 2, 0x7D, 0x8C, 1, UInt8(ascii: "x"), 0x63] + Array("builtins\neval\n".utf8)
        nested += [0x8C, 1, UInt8(ascii: "1"), 0x85, 0x52, 0x73, 0x2E]
        try checkForbidden(nested, global: "builtins.eval")
    }

    func checkForbidden(_ pkl: [UInt8], global: String, file: StaticString = #filePath, line: UInt = #line) throws {
        // Directly…
        try pkl.withUnsafeBytes { buf in
            assertConvertError(try RestrictedUnpickler(data: buf, path: "x.pkl").load(), file: file, line: line) {
                $0 == .forbiddenPickleGlobal(path: "x.pkl", global: global)
            }
        }
        // …and as the entropy model of a hub checkpoint.
        let src = tmp + "/src-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.copyItem(atPath: hubTiny, toPath: src)
        try writeBytes(makeZip([("consolidated/data.pkl", pkl), ("consolidated/version", Array("3\n".utf8))], zip64: false),
                       to: src + "/entropy_model/consolidated.pth")
        try assertFails(src, file: file, line: line) {
            if case let .forbiddenPickleGlobal(_, g) = $0 { return g == global }; return false
        }
        try FileManager.default.removeItem(atPath: src)
    }

    func testForbiddenOpcode() throws {
        // INST ('i') would instantiate a class by name.
        let pkl: [UInt8] = [0x80, 2, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E]
        try pkl.withUnsafeBytes { buf in
            assertConvertError(try RestrictedUnpickler(data: buf, path: "x.pkl").load()) {
                if case .forbiddenPickleOpcode(_, 0x69, _) = $0 { return true }; return false
            }
        }
        let truncated: [UInt8] = [0x80, 2, 0x7D, 0x8C, 200]
        try truncated.withUnsafeBytes { buf in
            assertConvertError(try RestrictedUnpickler(data: buf, path: "x.pkl").load()) {
                if case .malformedPickle = $0 { return true }; return false
            }
        }
    }

    /// Deep nesting (or a list appended to itself) is refused instead of overflowing the stack.
    func testNestingIsBounded() throws {
        let deep: [UInt8] = [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E]
        try deep.withUnsafeBytes { buf in
            assertConvertError(try RestrictedUnpickler(data: buf, path: "x.pkl").load()) {
                if case let .malformedPickle(_, reason) = $0 { return reason.contains("nested") }; return false
            }
        }
        // l = []; l.append(l) repeatedly
        let cycle: [UInt8] = [0x80, 2, 0x5D, 0x71, 0] + Array([[UInt8]](repeating: [0x68, 0, 0x61], count: 1000).joined()) + [0x2E]
        try cycle.withUnsafeBytes { buf in
            assertConvertError(try RestrictedUnpickler(data: buf, path: "x.pkl").load()) {
                if case let .malformedPickle(_, reason) = $0 { return reason.contains("nested") }; return false
            }
        }
        // Moderate nesting is fine.
        let ok: [UInt8] = [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 50) + [0x2E]
        XCTAssertNoThrow(try ok.withUnsafeBytes { try RestrictedUnpickler(data: $0, path: "x.pkl").load() })
    }

    func testMissingEntropyModel() throws {
        let src = try copyHub()
        try FileManager.default.removeItem(atPath: src + "/entropy_model")
        try assertFails(src) { if case .missingEntropyModel = $0 { return true }; return false }
        // A params.json without weights is just as missing.
        try FileManager.default.createDirectory(atPath: src + "/entropy_model", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: hubTiny + "/entropy_model/params.json", toPath: src + "/entropy_model/params.json")
        try assertFails(src) { if case .missingEntropyModel = $0 { return true }; return false }
    }

    /// Arguments that would give the converted config a value the engine refuses (a negative
    /// sliding window, a negative max_patch_length) end the conversion before anything is written.
    func testArgumentsTheEngineWouldRefuseWriteNothing() throws {
        for (file, edit) in [("entropy_model/params.json", { (args: inout [String: Any]) in
                                  var entropy = args["entropy_model"] as! [String: Any]; entropy["sliding_window"] = -4; args["entropy_model"] = entropy }),
                             ("config.json", { (args: inout [String: Any]) in
                                  var model = args["args"] as! [String: Any]; model["max_seqlen"] = -1; args["args"] = model })] {
            let src = try copyHub(UUID().uuidString)
            let url = URL(fileURLWithPath: src + "/" + file)
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: url)
            try assertFails(src) {
                guard case let .unknownLayout(_, reason) = $0 else { return false }
                return reason.contains("converted config's") && reason.contains("a value that")
            }
            try FileManager.default.removeItem(atPath: src)
        }
    }

    /// Rewrites src/model.safetensors, letting `edit` change the (name, shape, floats) list.
    func rewriteMain(_ src: String, _ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws {
        let ck = try SafetensorsCheckpoint(path: hubTiny + "/model.safetensors")
        var ts: [(name: String, shape: [Int], values: [Float])] = try ck.names.map { ($0, ck.info($0)!.shape, try ck.tensor($0).floats()) }
        edit(&ts)
        try SafetensorsWriter.write(path: src + "/model.safetensors", floats: ts)
    }

    func testWrongShape() throws {
        let src = try copyHub()
        try rewriteMain(src) { ts in
            let i = ts.firstIndex { $0.name == "local_decoder.layers.1.feed_forward.w2.weight" }!
            ts[i].shape = [8, 96]
        }
        try assertFails(src) {
            $0 == .wrongShape(name: "local_decoder.layers.1.feed_forward.w2.weight", expected: [16, 48], actual: [8, 96])
        }
    }

    func testMissingAndUnexpectedTensorsAreNamed() throws {
        let src = try copyHub()
        try rewriteMain(src) { ts in
            ts.removeAll { $0.name == "encoder_hash_tok_embedding.3.weight" || $0.name == "local_decoder.norm.weight" }
            ts.append((name: "local_decoder.extra.weight", shape: [2], values: [1, 2]))
        }
        try assertFails(src) {
            $0 == .tensorSetMismatch(missing: ["encoder_hash_tok_embedding.3.weight", "local_decoder.norm.weight"],
                                     unexpected: ["local_decoder.extra.weight"])
        }
    }

    func testNotAHubCheckpoint() throws {
        try assertFails(hubTinyExpected) { if case .unknownLayout = $0 { return true }; return false }
        try assertFails(tmp + "/nowhere") { if case .io = $0 { return true }; return false }
        assertConvertError(try Converter.convert(source: hubTiny, destination: tmp + "/no/such/parent/out")) {
            if case .io = $0 { return true }; return false
        }
        XCTAssertEqual(try tmpListing(), [])
    }

    func testCompressedEntryRefused() throws {
        var zip = makeZip([("a/data.pkl", [0x80, 2, 0x7D, 0x2E])], zip64: false)
        zip[8] = 8 // local header method = deflate
        let cd = zip.count - 22 - (46 + 10)
        zip[cd + 10] = 8
        let p = tmp + "/c.pth"
        try writeBytes(zip, to: p)
        assertConvertError(try TorchCheckpoint(path: p)) {
            if case .compressedZipEntry(_, "a/data.pkl", 8) = $0 { return true }; return false
        }
    }
}

/// The zip reader and unpickler on well-formed input.
final class TorchCheckpointTests: ConvertTestCase {
    func testReadsTorchSaveStateDict() throws {
        let ck = try TorchCheckpoint(path: hubTiny + "/entropy_model/consolidated.pth")
        XCTAssertEqual(ck.tensors.count, 21)
        XCTAssertEqual(ck.names.first, "layers.0.attention.wq.weight")
        let w = ck.tensor("output.weight")!
        XCTAssertEqual(w.dtype, .f32)
        XCTAssertEqual(w.shape, [260, 16])
        XCTAssertEqual(w.byteCount, 260 * 16 * 4)
        // Zero copy: the bytes live inside the mapped archive.
        let file = ck.archive.file.bytes
        XCTAssertTrue(w.bytes.baseAddress! >= file.baseAddress! && w.bytes.baseAddress! + w.byteCount <= file.baseAddress! + file.count)
        // Same values as the converted HF tensor.
        let hf = try SafetensorsCheckpoint(path: hubTinyExpected + "/model.safetensors").tensor("model.patcher.lm_head.weight")
        XCTAssertTrue(w.bytes.elementsEqual(hf.bytes))
    }

    func testZip64ArchiveOfTheSameCheckpoint() throws {
        let original = try ZipArchive(path: hubTiny + "/entropy_model/consolidated.pth")
        let entries = original.entries.map { ($0.name, Array(original.data($0))) }
        let p = tmp + "/zip64.pth"
        try writeBytes(makeZip(entries, zip64: true), to: p)
        let z = try ZipArchive(path: p)
        XCTAssertEqual(z.entries.map(\.name), original.entries.map(\.name))
        let a = try TorchCheckpoint(path: p), b = try TorchCheckpoint(path: hubTiny + "/entropy_model/consolidated.pth")
        XCTAssertEqual(a.names, b.names)
        for t in b.tensors { XCTAssertTrue(a.tensor(t.name)!.bytes.elementsEqual(t.bytes), t.name) }
    }

    func testUnpicklerValues() throws {
        // {'a': (1, -2, 2**40, -2**40), 'b': [True, None, 1.5], 'c': 'é'} in protocol 2
        var p: [UInt8] = [0x80, 2, 0x7D, 0x71, 0, 0x28]
        p += [0x8C, 1, UInt8(ascii: "a"), 0x28, 0x4B, 1, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x8A, 6, 0, 0, 0, 0, 0, 1, 0x8A, 6, 0, 0, 0, 0, 0, 0xFF, 0x74]
        p += [0x8C, 1, UInt8(ascii: "b"), 0x5D, 0x28, 0x88, 0x4E, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x65]
        p += [0x8C, 1, UInt8(ascii: "c"), 0x58, 2, 0, 0, 0, 0xC3, 0xA9]
        p += [0x75, 0x2E]
        let v = try p.withUnsafeBytes { try RestrictedUnpickler(data: $0, path: "v.pkl").load() }
        guard case let .dict(d) = v, case let .tuple(a)? = d["a"], case let .list(b)? = d["b"], case let .string(c)? = d["c"] else {
            return XCTFail("bad structure: \(v)")
        }
        XCTAssertEqual(a.map { if case let .int(i) = $0 { return i } else { return 0 } }, [1, -2, 1 << 40, -(1 << 40)])
        XCTAssertEqual(b.items.count, 3)
        if case let .float(f) = b.items[2] { XCTAssertEqual(f, 1.5) } else { XCTFail() }
        XCTAssertEqual(c, "é")
    }
}

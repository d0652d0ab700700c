import ByteLatent
import Foundation
import XCTest
@testable import ByteLatentConvert
import Safetensors
import JSONSupport

/// End-to-end: the Swift converter against the Python conversion of the same hub checkpoint.
final class ConvertTests: ConvertTestCase {
    func testOutputMatchesPythonConversion() throws {
        let out = tmp + "/out"
        let plan = try Converter.convert(source: hubTiny, destination: out)
        XCTAssertEqual(plan.tensors.count, 91)

        // Tensor for tensor: same names, dtypes, shapes and bytes.
        let got = try SafetensorsCheckpoint(path: out)
        let want = try SafetensorsCheckpoint(path: hubTinyExpected + "/model.safetensors")
        XCTAssertEqual(got.names, want.names)
        XCTAssertEqual(got.metadata["format"], "pt")
        for name in want.names {
            let a = try got.tensor(name), b = try want.tensor(name)
            XCTAssertEqual(a.dtype, b.dtype, name)
            XCTAssertEqual(a.shape, b.shape, name)
            XCTAssertTrue(a.bytes.elementsEqual(b.bytes), "\(name): bytes differ")
        }

        // Config and tokenizer files: same fields and values.
        for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            let a = try JSONValue.read(path: out + "/" + file)
            let b = try JSONValue.read(path: hubTinyExpected + "/" + file)
            XCTAssertEqual(jsonDifferences(a, b), [], file)
        }
        // Only the files of the layout and the manifest of what was written, and no temporary directory left next to it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(),
                       [".blt-convert-manifest.json", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        XCTAssertEqual(try tmpListing(), ["out"])
    }

    /// The entropy model in the facebook/blt-entropy layout (config.json {"args"} + model.safetensors).
    func testEntropyModelAsSafetensors() throws {
        let src = try copyHub()
        let em = src + "/entropy_model"
        let pth = try TorchCheckpoint(path: em + "/consolidated.pth")
        let specs = pth.tensors.map { TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        try SafetensorsWriter.write(path: em + "/model.safetensors", tensors: specs, metadata: ["format": "pt"]) { i, sink in
            try sink.write(pth.tensors[i].bytes)
        }
        let params = try JSONValue.read(path: em + "/params.json")
        try Data((JSONValue.object([("args", params["entropy_model"]!)]).serialized()).utf8).write(to: URL(fileURLWithPath: em + "/config.json"))
        for f in ["params.json", "consolidated.pth"] { try FileManager.default.removeItem(atPath: em + "/" + f) }

        let out = tmp + "/out"
        try Converter.convert(source: src, destination: out)
        let got = try SafetensorsCheckpoint(path: out)
        let want = try SafetensorsCheckpoint(path: hubTinyExpected + "/model.safetensors")
        XCTAssertEqual(got.names, want.names)
        for name in want.names { XCTAssertTrue(try got.tensor(name).bytes.elementsEqual(try want.tensor(name).bytes), name) }
        XCTAssertEqual(jsonDifferences(try JSONValue.read(path: out + "/config.json"),
                                       try JSONValue.read(path: hubTinyExpected + "/config.json")), [])
    }

    func testConfigKeyFigures() throws {
        let c = try HubCheckpoint.open(hubTiny).hfConfig()
        XCTAssertEqual(c["model_type"], .string("blt"))
        XCTAssertEqual(c["local_attention_window_len"], .int(8))
        XCTAssertEqual(c["patcher_config"]?["sliding_window"], .int(8))
        XCTAssertEqual(c["patcher_config"]?["rope_parameters"]?["rope_theta"]?.doubleValue, 10000)
        XCTAssertEqual(c["global_config"]?["rope_parameters"]?["rope_theta"]?.doubleValue, 500000)
        XCTAssertEqual(c["global_config"]?["intermediate_size"], .int(128))
        XCTAssertEqual(c["max_patch_length"], .int(6))
        XCTAssertEqual(c["patch_size"], .int(4))
    }

    /// Every tensor of `got` equals the one of the same name in `expected` (written by torch) bit for bit.
    func assertSameTensors(_ got: SafetensorsCheckpoint, _ expected: String, dtype: DType,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let want = try SafetensorsCheckpoint(path: expected)
        XCTAssertEqual(want.names.count, 91, "tensors in \(expected)", file: file, line: line)
        XCTAssertEqual(got.names, want.names, file: file, line: line)
        for name in want.names {
            let a = try got.tensor(name), b = try want.tensor(name)
            XCTAssertEqual(b.dtype, dtype, "\(expected): \(name)", file: file, line: line)
            XCTAssertEqual(a.dtype, dtype, name, file: file, line: line)
            XCTAssertEqual(a.shape, b.shape, name, file: file, line: line)
            let differing = zip(a.bytes.bindMemory(to: UInt16.self), b.bytes.bindMemory(to: UInt16.self)).filter { $0 != $1 }.count
            XCTAssertTrue(a.bytes.count == b.bytes.count && differing == 0,
                          "\(name): \(differing) of \(b.bytes.count / 2) elements differ from torch's .to(\(dtype))", file: file, line: line)
        }
    }

    /// --dtype bf16, sharded: bit for bit torch's `.to(torch.bfloat16)` of the reference conversion
    /// (Tests/Fixtures/hub-tiny-expected-dtypes, written by make_hub_checkpoint.py).
    func testShardedOutputAndBF16MatchTorch() throws {
        let out = tmp + "/out"
        let opts = ConvertOptions(dtype: .bf16, maxShardBytes: 60_000)
        try Converter.convert(source: hubTiny, destination: out, options: opts)
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertTrue(files.contains("model.safetensors.index.json"))
        XCTAssertFalse(files.contains("model.safetensors"))
        XCTAssertGreaterThan(files.filter { $0.hasPrefix("model-0") }.count, 1)
        try assertSameTensors(try SafetensorsCheckpoint(path: out), hubTinyExpectedDTypes + "/model.bf16.safetensors", dtype: .bf16)
    }

    /// --dtype f16: bit for bit torch's `.to(torch.float16)` of the reference conversion.
    func testF16OutputMatchesTorch() throws {
        let out = tmp + "/out"
        try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(dtype: .f16))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        try assertSameTensors(try SafetensorsCheckpoint(path: out), hubTinyExpectedDTypes + "/model.f16.safetensors", dtype: .f16)
    }

    /// A bf16 source keeps bf16 by default (per tensor) and widens exactly with --dtype f32.
    func testBF16SourceKeepsDTypeAndWidensExactly() throws {
        let src = try copyHub()
        let f32 = try SafetensorsCheckpoint(path: hubTiny + "/model.safetensors")
        let specs = f32.names.map { TensorSpec(name: $0, dtype: .bf16, shape: f32.info($0)!.shape) }
        try SafetensorsWriter.write(path: src + "/model.safetensors", tensors: specs, metadata: ["format": "pt"]) { i, sink in
            let t = try f32.tensor(specs[i].name)
            let bits = t.bytes.bindMemory(to: UInt32.self).map(torchBF16)
            try sink.write(contentsOf: bits)
        }
        let want = try SafetensorsCheckpoint(path: hubTinyExpected + "/model.safetensors")

        let keep = tmp + "/keep"
        try Converter.convert(source: src, destination: keep)
        let k = try SafetensorsCheckpoint(path: keep)
        XCTAssertEqual(k.info("model.encoder_hash_tok_embedding.weight")?.dtype, .bf16)
        XCTAssertEqual(k.info("lm_head.weight")?.dtype, .bf16)
        XCTAssertEqual(k.info("model.patcher.norm.weight")?.dtype, .f32) // the .pth stays f32

        // Widening is exact: torch's bf16 values (Python's .to(torch.bfloat16)) in f32; the .pth stays as it was.
        let wide = tmp + "/wide"
        try Converter.convert(source: src, destination: wide, options: ConvertOptions(dtype: .f32, chunkBytes: 1 << 16))
        let w = try SafetensorsCheckpoint(path: wide)
        let torchBF16Values = try SafetensorsCheckpoint(path: hubTinyExpectedDTypes + "/model.bf16.safetensors")
        XCTAssertEqual(torchBF16Values.names, want.names)
        for name in want.names {
            let a = try w.tensor(name), b = try want.tensor(name), c = try torchBF16Values.tensor(name)
            XCTAssertEqual(a.dtype, .f32)
            let x = a.bytes.bindMemory(to: UInt32.self), y = b.bytes.bindMemory(to: UInt32.self), z = c.bytes.bindMemory(to: UInt16.self)
            let rounded = !name.hasPrefix("model.patcher.")
            XCTAssertTrue((0..<y.count).allSatisfy { x[$0] == (rounded ? UInt32(z[$0]) << 16 : y[$0]) }, name)
        }
    }

    /// Values and results of `torch.tensor(v, dtype=float32).to(torch.bfloat16)` (torch 2.13, x86).
    func testBF16RoundingMatchesTorch() {
        let inputs: [UInt32] = [0x3F80_0000, 0x3F80_8000, 0x3F81_8000, 0xBB23_D70A, 0x7F7F_FFFF, 0x0001_16C2,
                                0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x3DCC_CCCD, 0x477F_E000, 0x3F80_8008]
        let torch: [UInt16] = [0x3F80, 0x3F80, 0x3F82, 0xBB24, 0x7F80, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x3DCD, 0x4780, 0x3F81]
        XCTAssertEqual(inputs.map(torchBF16), torch)
        XCTAssertEqual(torchBF16(Float.nan.bitPattern), 0xFFFF)
        XCTAssertTrue(Float(bitPattern: UInt32(torchBF16(Float.nan.bitPattern)) << 16).isNaN)
    }

    /// F16 sources (values and results from torch 2.13: `.float()` and `.to(torch.bfloat16)`).
    func testF16SourceConversions() {
        var h: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x03FF, 0x0001, 0x7C00, 0x3554]
        var f = [UInt32](repeating: 0, count: h.count)
        var b = [UInt16](repeating: 0, count: h.count)
        h.withUnsafeMutableBytes { s in
            f.withUnsafeMutableBytes { convertElements(from: .f16, to: .f32, src: s.baseAddress!, dst: $0.baseAddress!, count: 7) }
            b.withUnsafeMutableBytes { convertElements(from: .f16, to: .bf16, src: s.baseAddress!, dst: $0.baseAddress!, count: 7) }
        }
        XCTAssertEqual(f, [0x3F80_0000, 0xC000_0000, 0x477F_E000, 0x387F_C000, 0x3380_0000, 0x7F80_0000, 0x3EAA_8000])
        XCTAssertEqual(b, [0x3F80, 0xC000, 0x4780, 0x3880, 0x3380, 0x7F80, 0x3EAA])
    }

    func testRefusesToOverwriteWithoutForce() throws {
        let out = tmp + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out + "/mine.txt"))
        assertConvertError(try Converter.convert(source: hubTiny, destination: out)) {
            if case .destinationExists = $0 { return true }; return false
        }
        // The library names its option, not the command line's flag (blt convert says --force).
        XCTAssertThrowsError(try Converter.convert(source: hubTiny, destination: out)) {
            XCTAssertTrue("\($0)".contains("ConvertOptions.force"), "\($0)")
            XCTAssertFalse("\($0)".contains("--"), "\($0)")
        }
        XCTAssertThrowsError(try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(force: true))) {
            XCTAssertFalse("\($0)".contains("--"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), ["mine.txt"])
        // --force replaces only an empty directory or an earlier conversion, never the user's files.
        assertConvertError(try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(force: true))) {
            if case .unsafeDestination = $0 { return true }; return false
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), ["mine.txt"])
        try FileManager.default.removeItem(atPath: out + "/mine.txt")
        try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(force: true))
        try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(force: true))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        XCTAssertEqual(try tmpListing(), ["out"])
    }

    func testInspect() throws {
        let hub = try Inspector.inspect(path: hubTiny)
        XCTAssertEqual(hub.format, .hub)
        XCTAssertEqual(hub.tensorCount, 94)
        XCTAssertEqual(hub.dtypes.map(\.0), ["F32"])
        let comps = Dictionary(uniqueKeysWithValues: hub.components)
        XCTAssertEqual(comps["hash tables"], 4 * 64 * 16)
        XCTAssertEqual(hub.components.reduce(0) { $0 + $1.1 }, hub.totalParameters)
        XCTAssertEqual(comps["entropy model"], 15_056)

        let hf = try Inspector.inspect(path: hubTinyExpected)
        XCTAssertEqual(hf.format, .transformers)
        XCTAssertEqual(hf.tensorCount, 91)
        XCTAssertEqual(hf.totalParameters, hub.totalParameters)
        XCTAssertEqual(hf.components.map(\.1), hub.components.map(\.1))

        let ent = try Inspector.inspect(path: hubTiny + "/entropy_model")
        XCTAssertEqual(ent.format, .entropyOnly)
        XCTAssertEqual(ent.totalParameters, 15_056)
        XCTAssertEqual(ent.json["format"], .string("entropy model only"))
    }
}

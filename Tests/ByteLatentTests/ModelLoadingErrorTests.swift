import Foundation
import XCTest
import TestSupport
import Safetensors
@testable import ByteLatent

/// A wrong or incomplete model directory gives an error that names what is wrong.
final class ModelLoadingErrorTests: ScratchTestCase {
    let source = Fixtures.path("models/tiny-b")


    /// Copies the fixture's config (optionally edited) and rewrites its weights through `edit`.
    func makeModel(config editConfig: (inout [String: Any]) -> Void = { _ in },
                   weights edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void = { _ in }) throws -> String {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
        editConfig(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: scratch.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        var tensors = try file.tensorInfos.map { (name: $0.name, shape: $0.shape, values: try file.tensor($0.name).floats()) }
        edit(&tensors)
        try SafetensorsWriter.write(path: scratch.appendingPathComponent("model.safetensors").path, floats: tensors)
        return scratch.path
    }

    func loadError(_ directory: String) -> String {
        do { _ = try BLTModel(directory: directory); return "no error" } catch { return "\(error)" }
    }

    func testUnchangedCopyLoads() throws {
        XCTAssertEqual(loadError(try makeModel()), "no error")
    }

    /// Weights are used straight from the mapping, so a file shorter than its header says, or a
    /// header that points past the end, must fail at load with a typed error, never later with a
    /// SIGBUS inside a product. Tried for a cut in the middle of the data and in the last tensor.
    func testTruncatedOrLyingWeightsFailAtLoad() throws {
        let directory = try makeModel()
        let path = directory + "/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for keep in [original.count - 1, original.count - 4096, original.count / 2] {
            try original.prefix(keep).write(to: URL(fileURLWithPath: path))
            let message = loadError(directory)
            XCTAssertNotEqual(message, "no error", "truncated to \(keep) of \(original.count) bytes")
            XCTAssertTrue(message.contains("model.safetensors"), message)
        }
        // A header whose last offset claims more data than the file holds.
        var lying = original
        let headerLength = Int(lying.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = String(decoding: lying[8 ..< 8 + headerLength], as: UTF8.self)
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        let last = file.tensorInfos.max { $0.dataOffsets.upperBound < $1.dataOffsets.upperBound }!
        let end = String(last.dataOffsets.upperBound), bigger = String(last.dataOffsets.upperBound + 8)
        guard end.count == bigger.count, let range = header.range(of: "\(end)]") else { return XCTFail("cannot edit header") }
        let edited = header.replacingCharacters(in: range, with: "\(bigger)]")
        lying.replaceSubrange(8 ..< 8 + headerLength, with: Data(edited.utf8))
        try lying.write(to: URL(fileURLWithPath: path))
        XCTAssertNotEqual(loadError(directory), "no error")
    }

    /// NaN logits stop generation with the error eval gives, never bytes made up for them (id 0);
    /// `blt generate` (GenerateCLITests) and serve's generate_until (ServeTests) report it too.
    func testNaNLogitsStopGenerationWithAnError() throws {
        let dir = try Fixtures.nonFiniteHeadModel(in: scratch.appendingPathComponent("nan-head").path)
        let model = try BLTModel(directory: dir)
        for temperature: Float in [0, 0.8] {
            let generator = try ByteLatent.ByteGenerator(model: model, prompt: Tokenizer.encode("hi", addEOS: false),
                                          sampling: SamplingOptions(temperature: temperature, seed: 1), maxNewIDs: 5)
            XCTAssertNil(generator.next())
            XCTAssertEqual(generator.failure, .nonFiniteLogits(position: 3))
            XCTAssertEqual(Array(generator.generatedIDs), [])
        }
    }

    func testMissingTensorIsNamed() throws {
        let dir = try makeModel(weights: { $0.removeAll { $0.name == "model.local_decoder.layers.1.mlp.up_proj.weight" } })
        XCTAssertTrue(loadError(dir).contains("model.local_decoder.layers.1.mlp.up_proj.weight"), loadError(dir))
        XCTAssertTrue(loadError(dir).contains("no tensor"))
    }

    func testWrongShapeIsNamedWithBothShapes() throws {
        let dir = try makeModel(weights: { tensors in
            let i = tensors.firstIndex { $0.name == "lm_head.weight" }!
            tensors[i] = (tensors[i].name, [259, tensors[i].shape[1]], Array(tensors[i].values.dropLast(tensors[i].shape[1])))
        })
        let message = loadError(dir)
        XCTAssertTrue(message.contains("lm_head.weight") && message.contains("[259, 24]") && message.contains("[260, 24]"), message)
    }

    /// Parts load through scoped loaders (`weights.scoped("model.local_encoder")`, then the layer's
    /// scope): an error deep inside still names the whole tensor.
    func testWrongShapeInsideNestedScopesIsNamedInFull() throws {
        var edited = ""
        let dir = try makeModel(weights: { tensors in
            let i = tensors.firstIndex { $0.name.hasPrefix("model.local_encoder.cross_attn_layers.") && $0.name.hasSuffix(".k_norm.weight") }!
            edited = tensors[i].name
            tensors[i] = (tensors[i].name, [tensors[i].shape[0] - 1], Array(tensors[i].values.dropLast()))
        })
        XCTAssertFalse(edited.isEmpty)
        XCTAssertTrue(loadError(dir).contains("tensor '\(edited)' has shape"), "\(edited): \(loadError(dir))")
    }

    func testConfigThatDisagreesWithTheWeights() throws {
        let dir = try makeModel(config: { config in
            var decoder = config["decoder_config"] as! [String: Any]
            decoder["num_hidden_layers"] = 3
            config["decoder_config"] = decoder
        })
        XCTAssertTrue(loadError(dir).contains("model.local_decoder.layers.2."), loadError(dir))
    }

    func testUnknownModelType() throws {
        let dir = try makeModel(config: { $0["model_type"] = "llama" })
        XCTAssertTrue(loadError(dir).contains("model_type 'llama'"), loadError(dir))
    }

    func testOriginalHubLayoutIsRecognised() throws {
        let dir = try makeModel(config: { config in config = ["args": ["dim_global": 32]] })
        XCTAssertTrue(loadError(dir).contains("blt convert"), loadError(dir))
    }

    func testUnreadableAndInvalidConfig() throws {
        XCTAssertTrue(loadError(scratch.path).contains("config.json"), loadError(scratch.path))
        try "{not json".write(to: scratch.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertTrue(loadError(scratch.path).contains("not valid JSON"), loadError(scratch.path))
        let dir = try makeModel(config: { $0["cross_attn_k"] = "two" })
        XCTAssertTrue(loadError(dir).contains("cross_attn_k"), loadError(dir))
    }

    /// A config that cannot be read says why: its position and the character found for a syntax
    /// error, a byte-order mark, the kind of file, the permission.
    func testConfigReadErrorsSayWhatIsWrong() throws {
        let config = scratch.appendingPathComponent("config.json")
        try Data("{\n  \"a\": 1,,\n}".utf8).write(to: config)
        XCTAssertTrue(loadError(scratch.path).contains("not valid JSON at line 2, column 10 (byte 11)"), loadError(scratch.path))
        XCTAssertTrue(loadError(scratch.path).contains("(found ',')"), loadError(scratch.path))
        try Data([0xEF, 0xBB, 0xBF] + Array("{}".utf8)).write(to: config)
        XCTAssertTrue(loadError(scratch.path).contains("byte-order mark"), loadError(scratch.path))
        try FileManager.default.removeItem(at: config)
        XCTAssertEqual(mkfifo(config.path, 0o644), 0)
        XCTAssertTrue(loadError(scratch.path).contains("it is a FIFO (named pipe), not a regular file"), loadError(scratch.path))
        try FileManager.default.removeItem(at: config)
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: false)
        XCTAssertTrue(loadError(scratch.path).contains("it is a directory, not a regular file"), loadError(scratch.path))
        try FileManager.default.removeItem(at: config)
        XCTAssertEqual(symlink("config.json", config.path), 0)
        XCTAssertTrue(loadError(scratch.path).contains("symbolic link loop"), loadError(scratch.path))
        // The tests run as root, where permission bits do not bind; the wording is checked directly.
        XCTAssertEqual(FileReadFailure(errno: EACCES).reason, "permission denied (this user may not read it)")
    }

    func testMissingDirectoryAndMissingWeights() throws {
        XCTAssertTrue(loadError("/nonexistent/model").contains("does not exist"))
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: scratch.appendingPathComponent("config.json").path)
        XCTAssertTrue(loadError(scratch.path).contains("cannot open the weights"), loadError(scratch.path))
    }

    /// A checkpoint error keeps the safetensors error it comes from as a value, not as text.
    func testCheckpointErrorCarriesTheSafetensorsError() throws {
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: scratch.appendingPathComponent("config.json").path)
        // 5 bytes: too short for the 8-byte header length.
        try Data([1, 2, 3, 4, 5]).write(to: scratch.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try BLTModel(directory: scratch.path)) { error in
            guard case BLTError.checkpoint(.fileTooSmall(let path, let size), let context) = error else {
                return XCTFail("expected BLTError.checkpoint(.fileTooSmall), got \(error)")
            }
            XCTAssertEqual(URL(fileURLWithPath: path).lastPathComponent, "model.safetensors")
            XCTAssertEqual(size, 5)
            XCTAssertEqual(context, "cannot open the weights in '\(scratch.path)'")
            XCTAssertTrue("\(error)".hasPrefix("cannot open the weights in '\(scratch.path)': "), "\(error)")
        }
    }

    func testPatchLengthsThatDoNotFitAreRejected() throws {
        let model = try BLTModel(directory: source)
        let ids = Tokenizer.encode("hello")
        XCTAssertThrowsError(try model.logits(ids, patchLengths: [1, 2, 2])) { XCTAssertTrue("\($0)".contains("sum to the 7 ids")) }
        XCTAssertThrowsError(try model.logits([1, 300])) { XCTAssertTrue("\($0)".contains("id 300")) }
    }
}

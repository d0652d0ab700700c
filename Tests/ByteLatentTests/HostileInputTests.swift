import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// Hostile input to the engine: configs that would allocate absurd buffers, numbers that overflow
/// (issue 12). Each case must end in an error that names the problem; evaluation inputs are in HostileEvalInputTests.
final class HostileInputTests: ScratchTestCase {


    // MARK: Config limits (validated before any allocation)

    func tinyConfig() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/tiny-b/config.json")))) as! [String: Any]
    }

    /// The error of loading the tiny-b model with its config edited (weights unchanged).
    func loadError(_ edit: (inout [String: Any]) -> Void) throws -> String {
        var config = try tinyConfig()
        edit(&config)
        let dir = scratch.appendingPathComponent("m-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-b/model.safetensors"), toPath: dir.appendingPathComponent("model.safetensors").path)
        do { _ = try BLTModel(directory: dir.path); return "no error" } catch { return "\(error)" }
    }

    func sub(_ config: inout [String: Any], _ key: String, _ field: String, _ value: Any) {
        var s = config[key] as! [String: Any]
        s[field] = value
        config[key] = s
    }

    func testHashGroupSizeThatWouldAllocateTerabytesIsRefused() throws {
        // Was: "failed to allocate 8000000000032 bytes" (SIGABRT).
        let error = try loadError { $0["encoder_hash_byte_group_size"] = [3, 4, 5, 1_000_000_000_000] }
        XCTAssertTrue(error.contains("encoder_hash_byte_group_size") && error.contains("1000000000000"), error)
    }

    func testBillionLayersAreRefusedBeforeAllocating() throws {
        // Was: 8 GB allocated before any check.
        let error = try loadError { self.sub(&$0, "global_config", "num_hidden_layers", 1_000_000_000) }
        XCTAssertTrue(error.contains("global_config.num_hidden_layers") && error.contains("1000000000"), error)
    }

    func testZeroHiddenSizeNamesTheField() throws {
        // Was: "(4) must divide (0)".
        let error = try loadError { self.sub(&$0, "encoder_config", "hidden_size", 0) }
        XCTAssertTrue(error.contains("encoder_config.hidden_size") && error.contains("is 0"), error)
    }

    func testMissingEncoderConfigBlamesTheEncoder() throws {
        // Was: an error about decoder_config.hidden_size.
        let error = try loadError { $0.removeValue(forKey: "encoder_config") }
        XCTAssertTrue(error.contains("'encoder_config'") && error.contains("missing"), error)
        XCTAssertFalse(error.contains("decoder_config.hidden_size"), error)
    }

    func testNonFiniteThresholdInConfigIsRefused() throws {
        // 1e39 is finite JSON but infinite as Float.
        let error = try loadError { $0["patching_threshold"] = 1e39 }
        XCTAssertTrue(error.contains("patching_threshold") && error.contains("finite"), error)
    }

    func testOtherSizesAreBounded() throws {
        let cases: [(String, String, Any)] = [("patcher_config", "max_position_embeddings", 1 << 40), ("decoder_config", "intermediate_size", 1 << 40),
                                    ("global_config", "num_attention_heads", 1 << 20),
                                    ("encoder_config", "rope_parameters", ["rope_theta": -1, "rope_type": "default"] as [String: Any])]
        for (key, field, value) in cases {
            let error = try loadError { self.sub(&$0, key, field, value) }
            XCTAssertTrue(error.contains("\(key).\(field)") || error.contains("\(key).rope_theta"), error)
        }
        let error = try loadError { $0["encoder_hash_byte_group_vocab"] = 1 << 40 }
        XCTAssertTrue(error.contains("encoder_hash_byte_group_vocab"), error)
    }

    // MARK: Numbers from the caller

    func testGeneratorLengthDoesNotOverflow() throws {
        let model = try BLTModel(directory: Fixtures.path("models/tiny-b"))
        XCTAssertThrowsError(try ByteGenerator(model: model, prompt: [Tokenizer.bosID], maxNewIDs: Int.max)) {
            XCTAssertTrue("\($0)".contains("positions"), "\($0)")
        }
    }

    // MARK: Fuzz findings

    /// FuzzConfig, LeakSanitizer: the same Foundation leak through FileManager.contents(atPath:) on an
    /// empty config.json; config and JSON files are now read through `FileContents`.
    func testFuzzFoundEmptyConfigIsInvalidJSON() throws {
        let config = scratch.appendingPathComponent("config.json")
        try Data().write(to: config)
        XCTAssertEqual(FileContents.read(config.path), Data())
        XCTAssertThrowsError(try BLTConfig(contentsOf: config.path)) {
            XCTAssertEqual($0 as? BLTError, .configUnreadable(path: config.path, reason: "it is not valid JSON at line 1, column 1 (byte 0): unexpected end of input"))
        }
        XCTAssertThrowsError(try JSONValue.read(path: config.path))
    }

    // MARK: Path names (NSString's path methods trap on "U/" in this toolchain)

    func testPathNamesSplitAndNormalise() {
        XCTAssertTrue(PathNames.split("/a/b/") == ("/a", "b"))
        XCTAssertTrue(PathNames.split("/b") == ("/", "b"))
        XCTAssertTrue(PathNames.split("U/") == (".", "U"))
        XCTAssertTrue(PathNames.split("a/b") == ("a", "b"))
        XCTAssertTrue(PathNames.split("/") == ("/", ""))
        XCTAssertTrue(PathNames.split("") == (".", ""))
        XCTAssertEqual(PathNames.normalized("/a/./b/../c//d/"), "/a/c/d")
        XCTAssertEqual(PathNames.normalized("/../.."), "/")
    }
}

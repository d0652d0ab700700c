import Foundation
import XCTest
import ByteLatent
import ByteLatentConvert
import Safetensors

/// The engine runs what the converter writes: on the converted tiny hub checkpoint it gives the
/// logits transformers 5.24 computed on its own conversion (Converters/reference/make_hub_checkpoint.py).
final class ConvertedModelTests: ConvertTestCase {
    func testEngineLogitsOnConvertedCheckpointEqualTransformers() throws {
        let output = tmp + "/converted"
        _ = try Converter.convert(source: hubTiny, destination: output)
        let model = try BLTModel(directory: output)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hubTinyExpected + "/ids.json"))) as! [String: Any]
        let ids = (expected["input_ids"] as! [Int]).map(Int32.init)
        let patchLengths = expected["patch_lengths"] as! [Int]
        let forward = try model.forward(ids)
        XCTAssertEqual(forward.patchLengths, patchLengths)
        let reference = try SafetensorsFile(path: hubTinyExpected + "/logits.safetensors")
        let logits = try reference.tensor("logits").floats()
        XCTAssertEqual(try reference.tensor("patch_lengths").int64s().map(Int.init), patchLengths)
        XCTAssertEqual(logits.count, forward.logits.count)
        let worst = zip(logits, forward.logits).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 2e-4)
    }
}

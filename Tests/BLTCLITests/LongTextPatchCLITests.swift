import Foundation
import XCTest
import TestSupport
import JSONSupport
import ByteLatent

/// `blt patch` of a text longer than the entropy model's positions gives the whole-sequence patches
/// of `long-patching.json` (see LongTextPatchingTests), and its picture is bounded.
final class LongTextPatchCLITests: XCTestCase {
    func testPatchCommandOnALongText() throws {
        let fixture = try Fixtures.json("long-patching.json")
        let sample = try Data(contentsOf: Fixtures.root.appendingPathComponent("../../Models/sample.txt"))
        let text = Data(Array(repeating: sample, count: try XCTUnwrap(fixture["text"]["repeat"].int)).joined())
            .prefix(try XCTUnwrap(fixture["text"]["bytes"].int))
        let reference = (text: text, threshold: Float(try XCTUnwrap(fixture["threshold"].double)), patchLengths: fixture["patch_lengths"].ints)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blt-long-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("long.txt")
        try reference.text.write(to: file)
        let run = try runBLT(["patch", "--model", Fixtures.modelDirectory("tiny-a"), "--threshold", "\(reference.threshold)", "--json", file.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = try JSONValue.parse(run.stdout)
        XCTAssertEqual(output["patch_lengths"].ints.trimmingZeros, reference.patchLengths)
        let svg = try runBLT(["patch", "--model", Fixtures.modelDirectory("tiny-a"), "--svg", directory.appendingPathComponent("x.svg").path, file.path])
        XCTAssertEqual(svg.status, 0, svg.stderr)
        // Past 256 KiB the picture would be hundreds of MB: refused before the model runs.
        let large = directory.appendingPathComponent("large.txt")
        try Data(repeating: 0x61, count: (256 << 10) + 1).write(to: large)
        let refused = try runBLT(["patch", "--model", Fixtures.modelDirectory("tiny-a"), "--svg", directory.appendingPathComponent("y.svg").path, large.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--svg draws at most 262144 bytes of text (this one has 262145)"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("y.svg").path))
    }
}

private extension Array where Element == Int {
    var trimmingZeros: [Int] { Array(self[..<(lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0)]) }
}

import Foundation
import XCTest
import TestSupport
import ByteLatent
import ByteLatentEval
import ByteLatentPlots

/// The sweep's scatter plot (`blt sweep --svg`): one labelled point per setting in each panel.
final class SweepPlotTests: XCTestCase {
    func testSweepPlotHasOnePointPerSettingInEachPanel() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-sweep-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Paragraphs of the held-out sample, one JSONL document each.
        let sample = try String(contentsOfFile: Fixtures.repository.appendingPathComponent("Models/sample.txt").path, encoding: .utf8)
        let lines = try sample.components(separatedBy: "\n\n").map { paragraph in
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": paragraph]), as: UTF8.self)
        }
        let url = scratch.appendingPathComponent("docs.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)

        let model = try BLTModel(directory: Fixtures.modelDirectory("tiny-a"))
        let settings = try [0.8, 1.2].map { try PatchingScheme(rule: .entropy, threshold: Float($0)) }
        let rows = try Evaluator(model: model).sweep(DocumentReader(inputs: [DocumentInput(path: url.path)]), settings: settings)
        let svg = ScatterPlot.sweep(rows, modelName: "tiny-a").svg()
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 4)
        XCTAssertTrue(svg.contains("entropy 0.8"))
        XCTAssertTrue(svg.contains("inference FLOPs per byte"))
    }
}

import Foundation
import XCTest
import ByteLatent   // not @testable: the public API only, as in Docs/visualize.md
import ByteLatentEval
import ByteLatentPlots
import TestSupport

/// The Swift example of Docs/visualize.md, compiled and run.
final class VisualizationLibraryTests: XCTestCase {
    func testDocsExample() throws {
        let model = try BLTModel(directory: Fixtures.repository.appendingPathComponent("Models/blt-tiny").path)
        let text = Array("Names refer to objects.".utf8)
        let svg = try model.entropyPlotSVG(bytes: text)
        let plot = try model.entropyPlot(bytes: text, threshold: 2.5)
        let wide = try plot.svg(layout: PlotLayout(bytesPerRow: 96))

        let evaluator = try Evaluator(model: model)
        let scores = try evaluator.byteScores(bytes: text)
        let drawing = try PatchPlot.surprisal(scores, threshold: evaluator.threshold,
                                              modelName: model.name, documentName: "names").svg()

        XCTAssertEqual(model.name, "blt-tiny")
        for document in [svg, wide, drawing] {
            XCTAssertTrue(document.hasPrefix("<?xml"))
            XCTAssertTrue(document.contains("<title>blt-tiny"))
        }
        XCTAssertEqual(plot.ids.count, text.count + 1, "every byte and the EOS")
        XCTAssertEqual(plot.threshold, 2.5)
        // A lower threshold gives at least as many patches; the evaluation's are the model's own.
        let own = try model.entropyPlot(bytes: text)
        XCTAssertGreaterThanOrEqual(plot.patchStarts.count, own.patchStarts.count)
        XCTAssertEqual(own.patchStarts, scores.patchStarts.indices.filter { scores.patchStarts[$0] })
        XCTAssertEqual(scores.surprisalBits.count, text.count + 1)
        XCTAssertEqual(scores.nllBits, scores.score.nllNats / M_LN2, accuracy: 1e-9)
        XCTAssertEqual(scores.score, try evaluator.score(bytes: text))
    }
}

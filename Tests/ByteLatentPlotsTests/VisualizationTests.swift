import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import ByteLatentEval
@testable import ByteLatentPlots
import JSONSupport

/// The patch plot (SVG) and the per-byte scores, against the transformers fixtures.
final class VisualizationTests: XCTestCase {
    static func parse(_ svg: String) throws -> ParsedSVG { try ParsedSVG(svg) }
    static func starts(_ patchLengths: [Int]) -> [Int] { ParsedSVG.patchStarts(patchLengths) }

    // MARK: The SVG

    func testEntropyPlotHasOneRulePerReferencePatchStartAndOnePointPerByte() throws {
        var checked = 0
        for directory in Fixtures.modelDirectories {
            let model = try BLTModel(directory: directory)
            for c in try ReferenceCase.all(directory) {
                let label = "\(model.name)/\(c.name)"
                let svg = try model.entropyPlotSVG(bytes: Array(c.text.utf8))
                let parsed = try Self.parse(svg)
                XCTAssertEqual(parsed.points, c.ids.count - 1, "one point per byte and the EOS: \(label)")
                XCTAssertEqual(parsed.boundaries, Self.starts(c.patchLengths), "rules at the reference patch starts: \(label)")
                XCTAssertTrue(parsed.title.hasPrefix(model.name + ":"), parsed.title)
                XCTAssertTrue(parsed.title.contains("threshold \(PatchPlot.formatted(Double(model.config.patchingThreshold))) nats"), parsed.title)
                XCTAssertTrue(parsed.title.contains("bytes per patch"), parsed.title)
                // The labels, escapes undone, spell the text: every UTF-8 character is one label.
                let glyphs = ByteGlyphs.glyphs(c.ids.dropFirst())
                XCTAssertEqual(parsed.byteLabels, glyphs.map(\.text), label)
                let unescaped = ["\u{2423}": " ", "\\n": "\n", "\\t": "\t", "\\r": "\r"]
                let spelled = glyphs.dropLast().map { unescaped[$0.text] ?? $0.text }.joined()
                XCTAssertEqual(spelled, c.text, label)
                XCTAssertEqual(glyphs.last?.text, "</s>")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    func testMultiByteCharactersAreOneLabel() {
        let text = "Café 東京 😀 a\u{0301}\u{200B}!"
        let glyphs = ByteGlyphs.glyphs(Tokenizer.encode(text, addBOS: false, addEOS: false))
        XCTAssertEqual(glyphs.map(\.text), ["C", "a", "f", "é", "␣", "東", "京", "␣", "😀", "␣", "a", "U+0301", "U+200B", "!"])
        XCTAssertEqual(glyphs.map(\.range.count), [1, 1, 1, 2, 1, 3, 3, 1, 4, 1, 1, 2, 3, 1])
        // Not well-formed: a stray continuation byte, an overlong form, a surrogate, a truncated sequence.
        let bad: [UInt8] = [0x80, 0xC0, 0xAF, 0xED, 0xA0, 0x80, 0xF0, 0x9F, 0x98]
        XCTAssertEqual(ByteGlyphs.glyphs(Tokenizer.encode(bad, addBOS: false, addEOS: false)).map(\.text),
                       ["\\x80", "\\xc0", "\\xaf", "\\xed", "\\xa0", "\\x80", "\\xf0", "\\x9f", "\\x98"])
    }

    func testMarkupAndControlBytesAreEscaped() throws {
        let bytes: [UInt8] = Array("a<b&c".utf8) + [0x01, 0x00, 0x1B, 0x7F] + Array("\"'>\n\t".utf8) + [0xFF]
        let ids = Tokenizer.encode(bytes)
        let plotted = Array(ids.dropFirst())
        let plot = PatchPlot(title: "model <x> & \"y\" \u{07}", ids: plotted,
                             series: [PlotSeries(name: "values <&>", values: plotted.indices.map { Double($0 % 5) }, color: "#1f5fa8")],
                             threshold: 2.5, patchStarts: [0, 3, 9], highlightedSeries: 0, yLabel: "y & z", xLabel: "x < y")
        let svg = try plot.svg()
        let parsed = try Self.parse(svg)
        XCTAssertEqual(parsed.byteLabels, ["a", "<", "b", "&", "c", "\\x01", "\\x00", "\\x1b", "\\x7f", "\"", "'", ">", "\\n", "\\t", "\\xff", "</s>"])
        XCTAssertEqual(parsed.title, "model <x> & \"y\" \u{FFFD}")
        XCTAssertEqual(parsed.boundaries, [0, 3, 9])
        XCTAssertEqual(parsed.points, plotted.count)
        XCTAssertTrue(svg.contains(">&lt;</text>") && svg.contains(">&amp;</text>") && svg.contains(">&lt;/s&gt;</text>"))
        XCTAssertFalse(svg.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "no raw control characters in the SVG")
        XCTAssertFalse(svg.lowercased().contains("<script"))
        XCTAssertFalse(svg.contains("href"), "no external references")
    }

    func testLongTextsWrapOntoRowsOfLegibleWidth() throws {
        // 3000 bytes with multi-byte characters everywhere: rows of at most 64 bytes, none splitting a character.
        let text = String(repeating: "ab€ déf😀 ", count: 200)
        let ids = Array(Tokenizer.encode(text, addEOS: false).dropFirst())
        XCTAssertEqual(ids.count, 3000)
        let values = ids.indices.map { sin(Double($0)) + 1.5 }
        let starts = ids.indices.filter { values[$0] > 2 }
        let plot = PatchPlot(title: "wrap", ids: ids, series: [PlotSeries(name: "v", values: values, color: "#000")],
                             threshold: 2, patchStarts: starts, highlightedSeries: 0, yLabel: "v", xLabel: "x")
        let parsed = try Self.parse(try plot.svg(layout: PlotLayout(bytesPerRow: 64)))
        XCTAssertEqual(parsed.points, 3000)
        XCTAssertEqual(parsed.boundaries, starts)
        XCTAssertGreaterThanOrEqual(parsed.rows, 3000 / 64)
        XCTAssertLessThanOrEqual(parsed.rows, 3000 / 48)
        XCTAssertLessThanOrEqual(parsed.width, 60 + 64 * 14 + 20 + 1)
        let rows = PatchPlot.rows(ByteGlyphs.glyphs(ids), bytesPerRow: 64)
        XCTAssertEqual(rows.map(\.indices.count).reduce(0, +), 3000)
        for row in rows {
            XCTAssertLessThanOrEqual(row.indices.count, 64)
            XCTAssertEqual(row.glyphs.first?.range.lowerBound, row.indices.lowerBound)
            XCTAssertEqual(row.glyphs.last?.range.upperBound, row.indices.upperBound)
        }
        XCTAssertThrowsError(try plot.svg(layout: PlotLayout(bytesPerRow: 3)))
        var short = plot
        short.series[0].values.removeLast()
        XCTAssertThrowsError(try short.svg()) { XCTAssertEqual($0 as? PlotError, .mismatchedSeries(name: "v", values: 2999, ids: 3000)) }
    }

    static func rsvgConvert() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/rsvg-convert" } + ["/usr/bin/rsvg-convert"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func testRendersWithRsvgConvert() throws {
        guard let renderer = Self.rsvgConvert() else {
            // A missing renderer fails (`make test` installs it): a skip would pass unseen.
            throw TestSupportError("rsvg-convert is not installed (Debian: apt-get install librsvg2-bin; `make test` installs it as root)")
        }
        let directory = try XCTUnwrap(Fixtures.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        var bytes: [UInt8] = []
        for c in try ReferenceCase.all(directory) { bytes += Array(c.text.utf8) }
        bytes += [0x00, 0x01, 0x1B, 0xFF, 0x3C, 0x26]
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-svg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let evaluator = try Evaluator(model: model)
        let drawings = [
            try model.entropyPlotSVG(bytes: bytes),
            try PatchPlot.surprisal(try evaluator.byteScores(bytes: bytes), threshold: evaluator.threshold,
                                    modelName: model.name, documentName: "doc <&>").svg(),
        ]
        for (i, svg) in drawings.enumerated() {
            let input = scratch.appendingPathComponent("\(i).svg"), output = scratch.appendingPathComponent("\(i).png")
            try Data(svg.utf8).write(to: input)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: renderer)
            process.arguments = [input.path, "-o", output.path]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, stderr)
            XCTAssertEqual(stderr, "")
            let png = try Data(contentsOf: output)
            XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        }
    }
}

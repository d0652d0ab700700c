import ByteLatent
import Foundation

/// One line of values over the plotted bytes (one value per plotted id).
public struct PlotSeries: Sendable {
    /// Legend text, e.g. "entropy model: next-byte entropy".
    public var name: String
    public var values: [Double]
    /// An SVG colour, e.g. "#1f5fa8".
    public var color: String

    public init(name: String, values: [Double], color: String) {
        self.name = name
        self.values = values
        self.color = color
    }
}

/// What a patch plot shows: values per byte, the threshold and where patches start, with the bytes
/// along the x axis. `svg()` draws it; `BLTModel.entropyPlot` and `ByteScores.plot` fill it in.
public struct PatchPlot: Sendable {
    public var title: String
    /// A second line under the title (threshold, patches, bytes per patch…).
    public var subtitle: String
    /// The ids along the x axis (bytes, and specials such as the EOS), one point per id per series.
    public var ids: [Int32]
    /// Number shown under the first id (its byte offset in the document); later ones count on.
    public var firstOffset: Int
    public var series: [PlotSeries]
    /// The patching threshold in the y axis unit, drawn as a dashed line.
    public var threshold: Double?
    public var thresholdLabel: String
    /// Indices into `ids` where a patch starts: one vertical rule each, alternating bands between.
    public var patchStarts: [Int]
    /// Points of `series[highlightedSeries]` above the threshold are drawn in the threshold colour.
    public var highlightedSeries: Int?
    public var yLabel: String
    public var xLabel: String

    public init(title: String, subtitle: String = "", ids: [Int32], firstOffset: Int = 0, series: [PlotSeries],
                threshold: Double? = nil, thresholdLabel: String = "threshold", patchStarts: [Int] = [],
                highlightedSeries: Int? = nil, yLabel: String, xLabel: String) {
        self.title = title
        self.subtitle = subtitle
        self.ids = ids
        self.firstOffset = firstOffset
        self.series = series
        self.threshold = threshold
        self.thresholdLabel = thresholdLabel
        self.patchStarts = patchStarts
        self.highlightedSeries = highlightedSeries
        self.yLabel = yLabel
        self.xLabel = xLabel
    }
}

/// Sizes of a plot. Long texts wrap onto rows of `bytesPerRow` bytes (a UTF-8 character is never
/// split across rows), so every byte keeps a legible width however long the text.
public struct PlotLayout: Sendable {
    public var bytesPerRow: Int
    /// Width of one byte (px).
    public var cellWidth: Double
    /// Height of each row's plotting area (px).
    public var panelHeight: Double

    public init(bytesPerRow: Int = 64, cellWidth: Double = 14, panelHeight: Double = 110) {
        self.bytesPerRow = bytesPerRow
        self.cellWidth = cellWidth
        self.panelHeight = panelHeight
    }

    /// The fewest bytes per row: the widest UTF-8 character (4 bytes) must fit.
    public static let minimumBytesPerRow = 4
}

public enum PlotError: Error, CustomStringConvertible, Equatable {
    case badLayout(String)
    case mismatchedSeries(name: String, values: Int, ids: Int)
    case badPatchStart(Int, ids: Int)

    public var description: String {
        switch self {
        case .badLayout(let reason): return "cannot lay out the plot: \(reason)"
        case .mismatchedSeries(let name, let values, let ids):
            return "series '\(name)' has \(values) values for \(ids) plotted ids; give one value per id"
        case .badPatchStart(let start, let ids):
            return "patch start \(start) is outside the \(ids) plotted ids"
        }
    }
}

extension PatchPlot {
    static let thresholdColor = "#d62728"
    static let bandColors = ["#e8eef8", "#f8f1e4"]
    static let sansFont = "DejaVu Sans, Helvetica, Arial, sans-serif"
    static let monoFont = "DejaVu Sans Mono, Menlo, Consolas, monospace"

    // Vertical layout of the page and of one row (px).
    static let marginLeft = 60.0, marginRight = 20.0, headerHeight = 86.0, footerHeight = 34.0
    static let labelBand = 32.0, offsetBand = 14.0, rowGap = 14.0

    /// The plot as a self-contained SVG document (no scripts, no external fonts or files).
    public func svg(layout: PlotLayout = PlotLayout()) throws -> String {
        guard layout.bytesPerRow >= PlotLayout.minimumBytesPerRow, layout.bytesPerRow <= 100_000 else {
            throw PlotError.badLayout("bytes per row must be between \(PlotLayout.minimumBytesPerRow) and 100000 (got \(layout.bytesPerRow))")
        }
        guard layout.cellWidth >= 4, layout.cellWidth <= 200, layout.panelHeight >= 20, layout.panelHeight <= 2000 else {
            throw PlotError.badLayout("cell width must be 4–200 px and panel height 20–2000 px")
        }
        for s in series where s.values.count != ids.count {
            throw PlotError.mismatchedSeries(name: s.name, values: s.values.count, ids: ids.count)
        }
        if let bad = patchStarts.first(where: { $0 < 0 || $0 >= ids.count }) { throw PlotError.badPatchStart(bad, ids: ids.count) }

        let cell = layout.cellWidth
        let glyphs = ByteGlyphs.glyphs(ids)
        let rows = Self.rows(glyphs, bytesPerRow: layout.bytesPerRow)
        let rowHeight = layout.panelHeight + Self.labelBand + Self.offsetBand + Self.rowGap
        let widestRow = rows.map { $0.indices.count }.max() ?? 0
        let legend = legendItems()
        let legendWidth = legend.reduce(0) { $0 + $1.width }
        let textWidth = max(Self.textWidth(title, fontSize: 16), Self.textWidth(subtitle, fontSize: 12),
                            Self.textWidth(xLabel, fontSize: 11), legendWidth)
        let width = (Self.marginLeft + max(Double(widestRow) * cell, textWidth) + Self.marginRight).rounded(.up)
        let height = Self.headerHeight + Double(max(rows.count, 1)) * rowHeight + Self.footerHeight
        let scale = YScale(values: series.flatMap(\.values) + (threshold.map { [$0] } ?? []))
        let startSet = Set(patchStarts)

        var svg = SVGDocument()
        svg.element("rect", ["x": 0.0, "y": 0.0, "width": width, "height": height, "fill": "#ffffff"])
        svg.text(title, ["x": Self.marginLeft, "y": 26.0, "font-family": Self.sansFont, "font-size": 16, "font-weight": "bold", "fill": "#202020"])
        if !subtitle.isEmpty {
            svg.text(subtitle, ["x": Self.marginLeft, "y": 46.0, "font-family": Self.sansFont, "font-size": 12, "fill": "#404040"])
        }
        drawLegend(legend, into: &svg, y: 68)

        for (r, row) in rows.enumerated() {
            let top = Self.headerHeight + Double(r) * rowHeight
            let frame = RowFrame(top: top, height: layout.panelHeight, first: row.indices.lowerBound, cell: cell, scale: scale)
            svg.open("g", ["class": "row"])
            drawPanel(row, frame: frame, startSet: startSet, into: &svg)
            drawLabels(row, frame: frame, into: &svg)
            svg.close("g")
        }
        svg.text(xLabel, ["x": Self.marginLeft, "y": height - 12, "font-family": Self.sansFont, "font-size": 11, "fill": "#404040"])
        return svg.document(width: width, height: height, title: title)
    }

    /// One row of the plot: consecutive glyphs covering `indices`.
    struct Row {
        var indices: Range<Int>
        var glyphs: ArraySlice<ByteGlyph>
    }

    static func rows(_ glyphs: [ByteGlyph], bytesPerRow: Int) -> [Row] {
        var rows: [Row] = []
        var start = 0
        while start < glyphs.count {
            var end = start
            let first = glyphs[start].range.lowerBound
            while end < glyphs.count, glyphs[end].range.upperBound - first <= bytesPerRow { end += 1 }
            end = max(end, start + 1)
            // A full row ends after its last newline in its second half (lines of code stay
            // lines), else after its last space or tab near the end (words stay whole).
            if end < glyphs.count {
                let after = { (texts: [String], from: Int) in
                    (max(start + 1, from) ..< end).last { texts.contains(glyphs[$0 - 1].text) }
                }
                if let cut = after(["\\n"], end - bytesPerRow / 2) ?? after(["\u{2423}", "\\t"], end - bytesPerRow / 4) { end = cut }
            }
            rows.append(Row(indices: first ..< glyphs[end - 1].range.upperBound, glyphs: glyphs[start..<end]))
            start = end
        }
        return rows
    }

    /// The y axis: from 0 to a round maximum covering every value and the threshold.
    struct YScale {
        var maximum: Double
        var step: Double

        init(values: [Double]) {
            let top = max(1, values.filter(\.isFinite).max() ?? 1) * 1.04
            step = [0.5, 1, 2, 5, 10, 20, 50, 100].first { top / $0 <= 6 } ?? (top / 5).rounded(.up)
            maximum = (top / step).rounded(.up) * step
        }

        var ticks: [Double] { stride(from: 0, through: maximum + step / 2, by: step).map { $0 } }
    }

    struct RowFrame {
        var top: Double
        var height: Double
        var first: Int
        var cell: Double
        var scale: YScale
        var bottom: Double { top + height }
        func left(_ index: Int) -> Double { PatchPlot.marginLeft + Double(index - first) * cell }
        func center(_ index: Int) -> Double { left(index) + cell / 2 }
        func y(_ value: Double) -> Double { bottom - min(max(value, 0), scale.maximum) / scale.maximum * height }
    }

    func drawPanel(_ row: Row, frame: RowFrame, startSet: Set<Int>, into svg: inout SVGDocument) {
        let right = frame.left(row.indices.upperBound)
        // Patch bands: the patch holding each byte alternates colour, counted from the first patch.
        var patchIndex = patchStarts.filter { $0 <= row.indices.lowerBound }.count
        var bandStart = row.indices.lowerBound
        for index in row.indices.dropFirst() where startSet.contains(index) {
            svg.element("rect", ["class": "band", "x": frame.left(bandStart), "y": frame.top, "width": frame.left(index) - frame.left(bandStart),
                                 "height": frame.height, "fill": Self.bandColors[patchIndex % 2]])
            patchIndex += 1
            bandStart = index
        }
        svg.element("rect", ["class": "band", "x": frame.left(bandStart), "y": frame.top, "width": right - frame.left(bandStart),
                             "height": frame.height, "fill": Self.bandColors[patchIndex % 2]])

        // Grid, y ticks and the axis name.
        for tick in frame.scale.ticks {
            let y = frame.y(tick)
            svg.element("line", ["x1": Self.marginLeft, "y1": y, "x2": right, "y2": y, "stroke": "#ffffff", "stroke-width": 1.0])
            svg.element("line", ["x1": Self.marginLeft - 4, "y1": y, "x2": Self.marginLeft, "y2": y, "stroke": "#606060", "stroke-width": 1.0])
            svg.text(Self.tickLabel(tick), ["x": Self.marginLeft - 7, "y": y + 3.5, "text-anchor": "end", "font-family": Self.sansFont,
                                            "font-size": 10, "fill": "#404040"])
        }
        let middle = frame.top + frame.height / 2
        svg.text(yLabel, ["x": 14.0, "y": middle, "text-anchor": "middle", "transform": "rotate(-90 14 \(SVGDocument.number(middle)))",
                          "font-family": Self.sansFont, "font-size": 10, "fill": "#404040"])

        // Patch starts: a rule at the left edge of the byte that starts each patch.
        for index in row.indices where startSet.contains(index) {
            let x = frame.left(index)
            svg.element("line", ["class": "boundary", "data-index": index, "x1": x, "y1": frame.top, "x2": x, "y2": frame.bottom + 3,
                                 "stroke": "#5a6478", "stroke-width": 1.2])
        }
        svg.element("rect", ["x": Self.marginLeft, "y": frame.top, "width": right - Self.marginLeft, "height": frame.height,
                             "fill": "none", "stroke": "#8c8c8c", "stroke-width": 1.0])
        if let threshold {
            let y = frame.y(threshold)
            svg.element("line", ["class": "threshold", "x1": Self.marginLeft, "y1": y, "x2": right, "y2": y,
                                 "stroke": Self.thresholdColor, "stroke-width": 1.2, "stroke-dasharray": "5 3"])
        }

        // Each series: a line through its points, then one point per byte.
        for (s, line) in series.enumerated() {
            var path = ""
            var pen = false
            for index in row.indices {
                let value = line.values[index]
                guard value.isFinite else { pen = false; continue }
                path += (pen ? " L" : (path.isEmpty ? "M" : " M")) + SVGDocument.number(frame.center(index)) + " " + SVGDocument.number(frame.y(value))
                pen = true
            }
            if !path.isEmpty {
                svg.element("path", ["d": path, "fill": "none", "stroke": line.color, "stroke-width": 1.3, "stroke-linejoin": "round", "opacity": 0.85])
            }
            for index in row.indices {
                let value = line.values[index]
                let above = s == highlightedSeries && threshold.map { value > $0 } == true
                svg.element("circle", ["class": "point", "cx": frame.center(index), "cy": frame.y(value.isFinite ? value : frame.scale.maximum),
                                       "r": above ? 2.8 : 2.2, "fill": above ? Self.thresholdColor : line.color])
            }
        }
    }

    /// The bytes under the panel, then byte offsets every 8 bytes.
    func drawLabels(_ row: Row, frame: RowFrame, into svg: inout SVGDocument) {
        for glyph in row.glyphs {
            let x0 = frame.left(glyph.range.lowerBound), x1 = frame.left(glyph.range.upperBound)
            let room = x1 - x0 - 2
            let color = glyph.isEscape ? "#7b5ea7" : "#1a1a1a"
            if let size = [12.0, 10, 9].first(where: { Self.textWidth(glyph.text, fontSize: $0, mono: true) <= room }) {
                svg.text(glyph.text, ["class": "byte", "x": (x0 + x1) / 2, "y": frame.bottom + 17, "text-anchor": "middle",
                                      "font-family": Self.monoFont, "font-size": size, "fill": color])
                if glyph.range.count > 1 {
                    // A multi-byte character: a bracket under all of its bytes.
                    svg.element("path", ["d": "M\(SVGDocument.number(x0 + 2)) \(SVGDocument.number(frame.bottom + 21)) v3 H\(SVGDocument.number(x1 - 2)) v-3",
                                         "fill": "none", "stroke": "#9a9a9a", "stroke-width": 0.8])
                }
            } else {
                // Too wide for its bytes (\x1b, </s>): written downwards.
                let x = (x0 + x1) / 2 - 3, y = frame.bottom + 5
                svg.text(glyph.text, ["class": "byte", "x": x, "y": y, "transform": "rotate(90 \(SVGDocument.number(x)) \(SVGDocument.number(y)))",
                                      "font-family": Self.monoFont, "font-size": 8, "fill": color])
            }
        }
        let offsetStep = 8
        for index in row.indices {
            let offset = firstOffset + index
            guard offset % offsetStep == 0 || index == row.indices.lowerBound else { continue }
            if index != row.indices.lowerBound, index - row.indices.lowerBound < 3 { continue }
            let x = frame.left(index)
            let y = frame.bottom + Self.labelBand + 6
            svg.element("line", ["x1": x, "y1": y - 9, "x2": x, "y2": y - 5, "stroke": "#8c8c8c", "stroke-width": 0.8])
            svg.text(String(offset), ["x": x, "y": y + 3, "text-anchor": "start", "font-family": Self.sansFont, "font-size": 9, "fill": "#707070"])
        }
    }

    struct LegendItem {
        enum Mark { case series(String), threshold, band }
        var mark: Mark
        var text: String
        var width: Double { 26 + PatchPlot.textWidth(text, fontSize: 11) + 18 }
    }

    func legendItems() -> [LegendItem] {
        var items = series.map { LegendItem(mark: .series($0.color), text: $0.name) }
        if threshold != nil { items.append(LegendItem(mark: .threshold, text: thresholdLabel)) }
        if !patchStarts.isEmpty { items.append(LegendItem(mark: .band, text: "patch (a rule where each starts)")) }
        return items
    }

    func drawLegend(_ items: [LegendItem], into svg: inout SVGDocument, y: Double) {
        var x = Self.marginLeft
        for item in items {
            switch item.mark {
            case .series(let color):
                svg.element("line", ["x1": x, "y1": y - 4, "x2": x + 20, "y2": y - 4, "stroke": color, "stroke-width": 1.3])
                svg.element("circle", ["cx": x + 10, "cy": y - 4, "r": 2.6, "fill": color])
            case .threshold:
                svg.element("line", ["x1": x, "y1": y - 4, "x2": x + 20, "y2": y - 4, "stroke": Self.thresholdColor, "stroke-width": 1.2, "stroke-dasharray": "5 3"])
            case .band:
                svg.element("rect", ["x": x, "y": y - 11, "width": 9.0, "height": 13.0, "fill": Self.bandColors[0]])
                svg.element("rect", ["x": x + 10, "y": y - 11, "width": 10.0, "height": 13.0, "fill": Self.bandColors[1]])
                svg.element("line", ["x1": x + 10, "y1": y - 12, "x2": x + 10, "y2": y + 3, "stroke": "#5a6478", "stroke-width": 1.2])
            }
            svg.text(item.text, ["x": x + 26, "y": y, "font-family": Self.sansFont, "font-size": 11, "fill": "#303030"])
            x += item.width
        }
    }

    static func tickLabel(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// A generous estimate of drawn text width: 0.6 em per character in DejaVu Sans Mono (and about
    /// that on average in DejaVu Sans), 1 em for East Asian wide characters and emoji.
    static func textWidth(_ text: String, fontSize: Double, mono: Bool = false) -> Double {
        var ems = 0.0
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
                 0xFFE0...0xFFE6, 0x1F000...0x1FAFF, 0x20000...0x3FFFD: ems += 1.0
            default: ems += mono ? 0.6 : 0.58
            }
        }
        return ems * fontSize
    }
}

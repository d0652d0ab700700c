import Foundation

/// One labelled point of a scatter panel.
public struct ScatterPoint: Sendable {
    public var x: Double
    public var y: Double
    public var label: String
    public init(x: Double, y: Double, label: String) { self.x = x; self.y = y; self.label = label }
}

/// One panel: points joined in their order (a sweep's settings), with axis labels.
public struct ScatterPanel: Sendable {
    public var xLabel: String
    public var yLabel: String
    public var points: [ScatterPoint]
    /// A logarithmic x axis (ticks at powers of 10) when the x values span more than a factor of 10.
    public var logX: Bool
    public init(xLabel: String, yLabel: String, points: [ScatterPoint], logX: Bool = false) {
        self.xLabel = xLabel; self.yLabel = yLabel; self.points = points; self.logX = logX
    }

    /// Whether the x axis is drawn logarithmic: asked for, and the positive x values span a decade.
    var usesLogX: Bool {
        let xs = points.map(\.x).filter { $0.isFinite && $0 > 0 }
        guard logX, xs.count == points.count, let lo = xs.min(), let hi = xs.max() else { return false }
        return hi / lo > 10
    }
}

/// Panels side by side, each point labelled, like the BLT paper's bits-per-byte figures
/// (`blt sweep --svg`). Self-contained SVG: no scripts, no external fonts or files.
public struct ScatterPlot: Sendable {
    public var title: String
    public var subtitle: String
    public var panels: [ScatterPanel]
    public init(title: String, subtitle: String, panels: [ScatterPanel]) {
        self.title = title; self.subtitle = subtitle; self.panels = panels
    }

    static let panelWidth = 420.0, panelHeight = 300.0, left = 70.0, gap = 90.0, top = 70.0, bottom = 50.0
    static let color = "#1f5fa8"

    public func svg() -> String {
        var svg = SVGDocument()
        let width = Self.left + Double(panels.count) * (Self.panelWidth + Self.gap)
        let height = Self.top + Self.panelHeight + Self.bottom
        svg.element("rect", ["x": 0.0, "y": 0.0, "width": width, "height": height, "fill": "#ffffff"])
        svg.text(title, ["x": Self.left, "y": 24.0, "font-family": PatchPlot.sansFont, "font-size": 16, "font-weight": "bold", "fill": "#202020"])
        svg.text(subtitle, ["x": Self.left, "y": 44.0, "font-family": PatchPlot.sansFont, "font-size": 12, "fill": "#404040"])
        for (i, panel) in panels.enumerated() {
            draw(panel, x0: Self.left + Double(i) * (Self.panelWidth + Self.gap), into: &svg)
        }
        return svg.document(width: width, height: height, title: title)
    }

    /// An axis from a round value below the data to one above it, with about five ticks.
    struct Axis {
        var low: Double, high: Double, step: Double
        init(_ values: [Double]) {
            let finite = values.filter(\.isFinite)
            var lo = finite.min() ?? 0, hi = finite.max() ?? 1
            if hi - lo < 1e-12 { lo -= max(abs(lo) * 0.05, 1e-3); hi += max(abs(hi) * 0.05, 1e-3) }
            let pad = (hi - lo) * 0.08
            lo -= pad; hi += pad
            let raw = (hi - lo) / 5
            let magnitude = pow(10, floor(log10(raw)))
            let multiples: [Double] = [1, 2, 2.5, 5, 10]
            let step = multiples.map { (m: Double) -> Double in m * magnitude }.first { (s: Double) -> Bool in s >= raw } ?? raw
            self.step = step
            low = floor(lo / step) * step
            high = ceil(hi / step) * step
        }
        var ticks: [Double] { stride(from: low, through: high + step / 2, by: step).map { $0 } }

        /// log10 of the values, from the power of 10 below to the one above, a tick per decade.
        init(logOf values: [Double]) {
            let logs = values.filter { $0 > 0 && $0.isFinite }.map(log10)
            low = floor(logs.min() ?? 0)
            high = max(low + 1, ceil(logs.max() ?? 1))
            step = 1
        }
        func position(_ v: Double, from a: Double, to b: Double) -> Double { a + (v - low) / (high - low) * (b - a) }
    }

    static func tick(_ v: Double) -> String {
        let a = abs(v)
        if a != 0, a >= 1e5 || a < 1e-3 { return String(format: "%.2g", v) }
        return String(format: "%.4g", v)
    }

    private func draw(_ panel: ScatterPanel, x0: Double, into svg: inout SVGDocument) {
        let logX = panel.usesLogX
        let xAxis = logX ? Axis(logOf: panel.points.map(\.x)) : Axis(panel.points.map(\.x)), yAxis = Axis(panel.points.map(\.y))
        let x1 = x0 + Self.panelWidth, yTop = Self.top, yBottom = Self.top + Self.panelHeight
        func px(_ v: Double) -> Double { xAxis.position(logX ? log10(v) : v, from: x0, to: x1) }
        func py(_ v: Double) -> Double { yAxis.position(v, from: yBottom, to: yTop) }
        let font = PatchPlot.sansFont
        svg.element("rect", ["x": x0, "y": yTop, "width": Self.panelWidth, "height": Self.panelHeight, "fill": "none", "stroke": "#808080"])
        for tick in xAxis.ticks {
            let t = logX ? pow(10, tick) : tick
            svg.element("line", ["x1": px(t), "y1": yBottom, "x2": px(t), "y2": yBottom + 4, "stroke": "#808080"])
            svg.text(Self.tick(t), ["x": px(t), "y": yBottom + 16, "text-anchor": "middle", "font-family": font, "font-size": 10, "fill": "#404040"])
        }
        for t in yAxis.ticks {
            svg.element("line", ["x1": x0 - 4, "y1": py(t), "x2": x0, "y2": py(t), "stroke": "#808080"])
            svg.text(Self.tick(t), ["x": x0 - 7, "y": py(t) + 3.5, "text-anchor": "end", "font-family": font, "font-size": 10, "fill": "#404040"])
        }
        svg.text(panel.xLabel + (logX ? " (log scale)" : ""), ["x": (x0 + x1) / 2, "y": yBottom + 36, "text-anchor": "middle", "font-family": font, "font-size": 12, "fill": "#202020"])
        svg.text(panel.yLabel, ["x": x0 - 50, "y": (yTop + yBottom) / 2, "text-anchor": "middle", "font-family": font, "font-size": 12,
                                "fill": "#202020", "transform": "rotate(-90 \(SVGDocument.number(x0 - 50)) \(SVGDocument.number((yTop + yBottom) / 2)))"])
        let shown = panel.points.filter { $0.x.isFinite && $0.y.isFinite }
        if shown.count > 1 {
            let path = shown.map { "\(SVGDocument.number(px($0.x))),\(SVGDocument.number(py($0.y)))" }.joined(separator: " ")
            svg.element("polyline", ["points": path, "fill": "none", "stroke": Self.color, "stroke-width": 1.2, "stroke-opacity": 0.6])
        }
        for point in shown {
            svg.element("circle", ["cx": px(point.x), "cy": py(point.y), "r": 3.5, "fill": Self.color])
            svg.text(point.label, ["x": px(point.x) + 6, "y": py(point.y) - 6, "font-family": font, "font-size": 10, "fill": "#202020"])
        }
    }
}

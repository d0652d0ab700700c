import ByteLatent
import Foundation

extension BLTModel {
    /// The model directory's name, as plots and summaries show it.
    public var name: String { URL(fileURLWithPath: directory).standardized.lastPathComponent }

    /// The entropy model's next-byte entropy over `bytes` (encoded BOS + bytes [+ EOS]) with the
    /// threshold and the patches the model's `patching` (with `threshold`, if given) gives, ready to
    /// draw with `svg()`.
    public func entropyPlot(bytes: [UInt8], addEOS: Bool = true, threshold: Float? = nil) throws -> PatchPlot {
        let ids = Tokenizer.encode(bytes, addEOS: addEOS)
        let entropies = try entropies(ids)
        var scheme = patching
        if let threshold { scheme = try PatchingScheme(rule: scheme.rule, threshold: threshold, maxPatchLength: scheme.maxPatchLength) }
        return PatchPlot.entropy(ids: ids, entropies: entropies, patchLengths: try scheme.patchLengths(ids: ids, entropies: entropies),
                                 scheme: scheme, modelName: name)
    }

    /// `entropyPlot(...)` drawn as a self-contained SVG document.
    public func entropyPlotSVG(bytes: [UInt8], addEOS: Bool = true, threshold: Float? = nil, layout: PlotLayout = PlotLayout()) throws -> String {
        try entropyPlot(bytes: bytes, addEOS: addEOS, threshold: threshold).svg(layout: layout)
    }
}

extension PatchPlot {
    /// Start of every non-empty patch after the BOS's, as indices into ids[1...] (position − 1).
    /// A zero-length trailing patch starts at no byte and is left out.
    static func plottedStarts(patchLengths: [Int], count: Int) -> [Int] {
        var starts: [Int] = []
        var position = 0
        for length in patchLengths {
            if length > 0, position >= 1, position < count { starts.append(position - 1) }
            position += length
        }
        return starts
    }

    package static func formatted(_ value: Double) -> String { String(format: "%.3g", value) }

    /// The paper's picture: for `ids` (BOS first) every byte after the BOS is plotted at the entropy
    /// the entropy model had just before it (H[t−1] for id t), the value patching compares with
    /// `threshold`, so a patch starts exactly at the points above the dashed line (and, with a
    /// `maxPatchLength`, where a long patch is split).
    public static func entropy(ids: [Int32], entropies: [Float], patchLengths: [Int], threshold: Float,
                               modelName: String, maxPatchLength: Int? = nil) -> PatchPlot {
        entropy(ids: ids, entropies: entropies, patchLengths: patchLengths,
                scheme: PatchingScheme(drawing: .entropy, threshold: threshold, maxPatchLength: maxPatchLength), modelName: modelName)
    }

    /// The same picture for any rule; the threshold line is drawn where the rule compares the
    /// plotted entropies with it (entropy, entropy+monotonic).
    public static func entropy(ids: [Int32], entropies: [Float], patchLengths: [Int], scheme: PatchingScheme,
                               modelName: String) -> PatchPlot {
        let threshold = scheme.threshold, maxPatchLength = scheme.maxPatchLength
        var drawsThreshold = false
        switch scheme.rule {
        case .entropy, .entropyMonotonic: drawsThreshold = true
        default: break
        }
        let plotted = Array(ids.dropFirst())
        let values = entropies.prefix(plotted.count).map(Double.init)
        let starts = plottedStarts(patchLengths: patchLengths, count: ids.count)
        let bytes = plotted.filter { ByteGlyphs.byteValue($0) != nil }.count
        let perPatch = starts.isEmpty ? 0 : Double(plotted.count) / Double(starts.count)
        var subtitle = "\(bytes) byte\(bytes == 1 ? "" : "s")\(plotted.count > bytes ? " + EOS" : ""), \(starts.count) patch\(starts.count == 1 ? "" : "es") (the BOS's own patch not counted)"
        if let maxPatchLength { subtitle += "; patches longer than \(maxPatchLength) are split" }
        return PatchPlot(
            title: "\(modelName): \(scheme.rule.name) patching (\(drawsThreshold ? "threshold \(formatted(Double(threshold))) nats, " : "")\(String(format: "%.2f", perPatch)) bytes per patch)",
            subtitle: subtitle, ids: plotted, firstOffset: 0,
            series: [PlotSeries(name: "entropy before the byte (nats)", values: values + Array(repeating: .nan, count: plotted.count - values.count), color: "#1f5fa8")],
            threshold: drawsThreshold ? Double(threshold) : nil, thresholdLabel: "threshold \(formatted(Double(threshold))) nats",
            patchStarts: starts, highlightedSeries: 0, yLabel: "entropy (nats)",
            xLabel: "byte offset (␣ space, \\n newline, \\xNN not UTF-8, U+NNNN invisible character); " + (scheme.rule == .entropy ? "a patch starts where the entropy before a byte exceeds the threshold" : "patches by the \(scheme.rule.description) rule"))
    }
}

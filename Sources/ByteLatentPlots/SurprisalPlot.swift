import ByteLatent
import ByteLatentEval
import Foundation

extension PatchPlot {
    /// A scored document: the main model's surprisal and the entropy model's entropy per byte, both
    /// in bits so they can be compared (the threshold is converted too), with the patches the
    /// evaluation used.
    public static func surprisal(_ scores: ByteScores, threshold: Float, modelName: String, documentName: String) -> PatchPlot {
        let starts = scores.patchStarts.indices.filter { scores.patchStarts[$0] }
        let thresholdBits = Double(threshold) / M_LN2
        let bytes = scores.score.bytes
        return PatchPlot(
            title: "\(modelName) on \(documentName): \(String(format: "%.3f", scores.score.bitsPerByte)) bits per byte, threshold \(formatted(Double(threshold))) nats, \(String(format: "%.2f", starts.isEmpty ? 0 : Double(scores.ids.count) / Double(starts.count))) bytes per patch",
            subtitle: "\(bytes) byte\(bytes == 1 ? "" : "s")\(scores.ids.count > bytes ? " + EOS" : ""), \(starts.count) patches, \(scores.score.windows) forward pass\(scores.score.windows == 1 ? "" : "es"); both curves in bits",
            ids: scores.ids, firstOffset: 0,
            series: [PlotSeries(name: "surprisal −log₂ p(byte), main model", values: scores.surprisalBits, color: "#e07b00"),
                     PlotSeries(name: "entropy before the byte, entropy model", values: scores.entropyNats.map { Double($0) / M_LN2 }, color: "#1f5fa8")],
            threshold: thresholdBits, thresholdLabel: "threshold \(formatted(Double(threshold))) nats = \(formatted(thresholdBits)) bits",
            patchStarts: starts, highlightedSeries: 1, yLabel: "bits",
            xLabel: "byte offset (␣ space, \\n newline, \\xNN not UTF-8, U+NNNN invisible character); patches are the ones the evaluation used")
    }
}

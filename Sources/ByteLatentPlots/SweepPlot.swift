import ByteLatentEval

extension ScatterPlot {
    /// The paper's two pictures for a sweep: bits per byte against bytes per patch and against
    /// FLOPs per byte (all four parts), one labelled point per setting.
    public static func sweep(_ rows: [SweepRow], modelName: String) -> ScatterPlot {
        let targets = rows.first?.summary.sums.targets ?? 0
        return ScatterPlot(
            title: "\(modelName): bits per byte by patching setting",
            subtitle: "\(rows.count) settings over the same \(targets) scored bytes (EOS included); FLOPs count the entropy model, local encoder, global transformer and local decoder",
            panels: [
                ScatterPanel(xLabel: "bytes per patch", yLabel: "bits per byte",
                             points: rows.map { ScatterPoint(x: $0.summary.meanPatchBytes, y: $0.summary.bitsPerByte, label: $0.label) },
                             logX: true),
                ScatterPanel(xLabel: "inference FLOPs per byte", yLabel: "bits per byte",
                             points: rows.map { ScatterPoint(x: $0.flopsPerByte.total, y: $0.summary.bitsPerByte, label: $0.label) }),
            ])
    }
}

import Foundation

/// The score of one document: its NLL and what was needed to compute it.
public struct DocumentScore: Sendable, Equatable {
    /// Σ NLL over every target (nats), summed target by target in document order.
    public var nllNats: Double
    public var targets: Int
    public var bytes: Int
    public var patches: Int
    public var windows: Int
    /// (bits, targets) of each chunk of `chunkTargets` consecutive targets.
    public var chunks: [(bits: Double, targets: Int)]
    public var bitsPerByte: Double { targets == 0 ? 0 : nllNats / M_LN2 / Double(targets) }

    public static func == (a: DocumentScore, b: DocumentScore) -> Bool {
        a.nllNats == b.nllNats && a.targets == b.targets && a.bytes == b.bytes && a.patches == b.patches
            && a.windows == b.windows && a.chunks.map(\.bits) == b.chunks.map(\.bits) && a.chunks.map(\.targets) == b.chunks.map(\.targets)
    }
}

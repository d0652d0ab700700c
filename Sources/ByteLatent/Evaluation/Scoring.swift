import Foundation

/// Negative log-likelihood of a sequence under its own next-byte logits.
public enum Scoring {
    public struct Score: Sendable, Equatable {
        /// Σ −log p(ids[t+1] | ids[...t]) in nats, over every id after the first.
        public var nllNats: Double
        public var targets: Int
        /// nll / ln 2 / targets: the reference's definition (the EOS target counts as a byte).
        public var bitsPerByte: Double { targets == 0 ? 0 : nllNats / M_LN2 / Double(targets) }
    }

    /// Scores ids[from+1 ..< ids.count] using logits rows from ..< ids.count − 1.
    public static func score(logits: [Float], ids: [Int32], from first: Int = 0, width: Int = Tokenizer.vocabularySize) -> Score {
        let values = targetNLLs(logits: logits, ids: ids, from: first, width: width)
        return Score(nllNats: values.reduce(0, +), targets: values.count)
    }

    /// −log p(ids[t+1] | ids[...t]) in nats for t = from ..< ids.count − 1, in order (log-softmax in
    /// Double over each logits row).
    public static func targetNLLs(logits: [Float], ids: [Int32], from first: Int = 0, width: Int = Tokenizer.vocabularySize) -> [Double] {
        logits.withUnsafeBufferPointer { targetNLLs(logits: $0, ids: ids, from: first, width: width) }
    }

    /// `targetNLLs` of logits in place (e.g. one window's rows of a packed pass, without a copy).
    public static func targetNLLs(logits: UnsafeBufferPointer<Float>, ids: [Int32], from first: Int = 0,
                                  width: Int = Tokenizer.vocabularySize) -> [Double] {
        guard first >= 0, first < ids.count - 1 else { return [] }
        precondition(logits.count >= (ids.count - 1) * width, "logits hold fewer rows than ids")
        var values = [Double]()
        values.reserveCapacity(ids.count - 1 - first)
        for t in first ..< ids.count - 1 {
            let row = logits.baseAddress! + t * width
            var maximum = -Float.infinity
            for v in 0..<width { maximum = max(maximum, row[v]) }
            var sum = 0.0
            for v in 0..<width { sum += exp(Double(row[v] - maximum)) }
            values.append(log(sum) - Double(row[Int(ids[t + 1])] - maximum))
        }
        return values
    }
}

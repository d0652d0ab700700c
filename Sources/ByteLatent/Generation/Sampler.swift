import Foundation

/// How the next byte is chosen from the logits. Temperature 0 is greedy (argmax), the default, and
/// so is any temperature below `minimumTemperature`: dividing logits by less overflows Float, and
/// sampling at such a temperature is the argmax anyway.
/// With both `topK` and `topP` set, both apply, top-k first and then top-p on what top-k kept, as
/// transformers' processors do (`TopKLogitsWarper`, then `TopPLogitsWarper`; the sampling fixture
/// has settings with both). The official facebookresearch/blt demo differs: it applies only one,
/// top-p when set, else top-k.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float
    /// Keep only the k most likely ids (0: off). Ids tied with the k-th are kept too, as transformers does.
    public var topK: Int
    /// Nucleus sampling (0 or 1: off): after top-k, keep the smallest set of most likely ids whose mass reaches p.
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.seed = seed
    }

    public static let greedy = SamplingOptions()
    /// Temperatures below this sample greedily (see above).
    public static let minimumTemperature: Float = 1e-3
}

/// Picks ids from logits; reproducible for a given seed (SplitMix64).
struct Sampler {
    let options: SamplingOptions
    private var state: UInt64

    init(_ options: SamplingOptions) {
        self.options = options
        state = options.seed
    }

    mutating func nextUniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    /// The distribution `sample` draws from when temperature > 0, with transformers' warpers in
    /// transformers' order: logits / temperature, then top-k (every id whose scaled logit is at least
    /// the k-th largest stays, so ties can keep more than k), then top-p on the softmax of what is left
    /// (ids by decreasing probability, ties lower id first, until the kept mass reaches p; among ids
    /// tied at that boundary transformers' pick depends on torch.sort, ours is the lower ids).
    /// Removed ids get probability 0; the rest sum to 1.
    func probabilities(_ logits: ArraySlice<Float>) -> [Double] {
        let scaled = logits.map { $0 / options.temperature }
        var kept = [Bool](repeating: true, count: scaled.count)
        if options.topK > 0, options.topK < scaled.count {
            let kth = scaled.sorted(by: >)[options.topK - 1]
            for i in scaled.indices where scaled[i] < kth { kept[i] = false }
        }
        let maximum = scaled.indices.filter { kept[$0] }.map { scaled[$0] }.max() ?? 0
        var probabilities = scaled.indices.map { kept[$0] ? exp(Double(scaled[$0] - maximum)) : 0 }
        normalize(&probabilities)
        if options.topP > 0, options.topP < 1 {
            let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            var cumulative = 0.0
            for i in order {
                if cumulative >= Double(options.topP) { probabilities[i] = 0 } else { cumulative += probabilities[i] }
            }
            normalize(&probabilities)
        }
        return probabilities
    }

    private func normalize(_ values: inout [Double]) {
        let total = values.reduce(0, +)
        for i in values.indices { values[i] /= total }
    }

    /// The next id, or nil when the logits are not all finite (NaN or infinite logits mean nothing:
    /// no id is made up for them, least of all 0, the padding id).
    mutating func sample(_ logits: ArraySlice<Float>) -> Int32? {
        guard !logits.isEmpty, logits.allSatisfy(\.isFinite) else { return nil }
        guard options.temperature >= SamplingOptions.minimumTemperature else {
            var best = logits.startIndex
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return Int32(best - logits.startIndex)
        }
        return draw(probabilities(logits))
    }

    /// One id drawn from `probabilities` (which sum to 1) with the next uniform number; nil when no
    /// id has a probability above 0.
    mutating func draw(_ probabilities: [Double]) -> Int32? {
        var target = nextUniform()
        var last: Int?
        for i in probabilities.indices where probabilities[i] > 0 {
            target -= probabilities[i]
            last = i
            if target < 0 { return Int32(i) }
        }
        return last.map(Int32.init)   // rounding left a sliver of mass: the last kept id
    }
}

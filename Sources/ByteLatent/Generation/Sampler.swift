import Foundation

/// How the next byte is chosen from the logits. Temperature 0 is greedy (argmax), the default.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float
    /// Keep only the k most likely ids (0: off).
    public var topK: Int
    /// Nucleus sampling: keep the smallest set of ids whose mass reaches p (0: off). Applied before top-k, as the reference does.
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.seed = seed
    }

    public static let greedy = SamplingOptions()
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

    mutating func sample(_ logits: ArraySlice<Float>) -> Int32 {
        let values = Array(logits)
        guard options.temperature > 0 else {
            var best = 0
            for i in values.indices where values[i] > values[best] { best = i }
            return Int32(best)
        }
        let maximum = values.max() ?? 0
        var probabilities = values.map { exp(Double(($0 - maximum) / options.temperature)) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
        if options.topP > 0 {
            // Drop every id whose preceding cumulative mass already exceeds p.
            var cumulative = 0.0
            for i in order {
                if cumulative > Double(options.topP) { probabilities[i] = 0 }
                cumulative += probabilities[i] == 0 ? 0 : probabilities[i]
            }
        } else if options.topK > 0 {
            for i in order.dropFirst(options.topK) { probabilities[i] = 0 }
        }
        let kept = probabilities.reduce(0, +)
        var target = nextUniform() * kept
        for i in order where probabilities[i] > 0 {
            target -= probabilities[i]
            if target <= 0 { return Int32(i) }
        }
        return Int32(order.first { probabilities[$0] > 0 } ?? 0)
    }
}

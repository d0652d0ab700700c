import Foundation

// The statistics behind `blt eval`: exact sums (so shards merge to the figures of one run, in any
// order) and the moments of a ratio estimate (for its standard error). No report format here:
// EvalSummary holds the figures, EvalSummaryJSON writes and reads them.

/// A real number summed exactly: an integer count of 2⁻⁴⁰. Each value is rounded once when it is
/// added (an error below 5·10⁻¹³); after that, addition is exact integer arithmetic, so sums are the
/// same in any order and shard outputs merge into exactly the figures of a single run.
/// Encoded in JSON as a decimal string of that integer.
public struct ExactSum: Equatable, Sendable, CustomStringConvertible {
    public static let scale = 0x1p40
    /// Magnitude limit for a single added value (keeps every sum far inside Int128).
    public static let limit = 1e24

    public var raw: Int128

    public init() { raw = 0 }
    public init(raw: Int128) { self.raw = raw }

    /// `value` rounded to a multiple of 2⁻⁴⁰; nil unless it is finite and below `limit`.
    public init?(_ value: Double) {
        guard value.isFinite, abs(value) < Self.limit else { return nil }
        raw = Int128((value * Self.scale).rounded())
    }

    /// An integer, exactly.
    public init(integer: Int) { raw = Int128(integer) << 40 }

    public var value: Double { Double(raw) / Self.scale }
    public var description: String { "\(value)" }

    public static func + (a: ExactSum, b: ExactSum) -> ExactSum { ExactSum(raw: a.raw + b.raw) }
    public static func += (a: inout ExactSum, b: ExactSum) { a.raw += b.raw }
    /// a + b, or nil if the 128-bit sum overflows (sums read from files that lie).
    public func adding(_ other: ExactSum) -> ExactSum? {
        let (r, overflow) = raw.addingReportingOverflow(other.raw)
        return overflow ? nil : ExactSum(raw: r)
    }
}

/// Sums over units (documents, or chunks of targets) for the standard error of a ratio estimate:
/// each unit u has y_u bits over n_u targets, and bits per byte is Σy / Σn.
public struct RatioMoments: Equatable, Sendable {
    public var units = 0
    /// Σ y_u (bits).
    public var bits = ExactSum()
    /// Σ n_u (targets).
    public var targets = 0
    /// Σ y_u².
    public var bitsSquared = ExactSum()
    /// Σ y_u · n_u.
    public var bitsTimesTargets = ExactSum()
    /// Σ n_u².
    public var targetsSquared = ExactSum()

    public init() {}

    /// Adds a unit of `bits` over `targets`. Returns false if a value is not finite or too large.
    public mutating func add(bits y: Double, targets n: Int) -> Bool {
        guard let b = ExactSum(y), let bb = ExactSum(y * y), let bn = ExactSum(y * Double(n)) else { return false }
        units += 1
        bits += b
        targets += n
        bitsSquared += bb
        bitsTimesTargets += bn
        targetsSquared += ExactSum(raw: Int128(n) * Int128(n) << 40)
        return true
    }

    /// The moments of both sets of units, or nil if an addition overflows.
    public func adding(_ other: RatioMoments) -> RatioMoments? {
        func add(_ a: Int, _ b: Int) -> Int? { let (r, o) = a.addingReportingOverflow(b); return o ? nil : r }
        guard let units = add(units, other.units), let bits = bits.adding(other.bits), let targets = add(targets, other.targets),
              let bitsSquared = bitsSquared.adding(other.bitsSquared), let bitsTimesTargets = bitsTimesTargets.adding(other.bitsTimesTargets),
              let targetsSquared = targetsSquared.adding(other.targetsSquared) else { return nil }
        var r = RatioMoments()
        r.units = units; r.bits = bits; r.targets = targets
        r.bitsSquared = bitsSquared; r.bitsTimesTargets = bitsTimesTargets; r.targetsSquared = targetsSquared
        return r
    }

    /// Standard error of Σy/Σn treating units as independent draws (the delta-method / cluster-robust
    /// estimate): √(U/(U−1) · Σ(y_u − r·n_u)²) / Σn with r = Σy/Σn. Nil with fewer than two units.
    public var standardError: Double? {
        guard units >= 2, targets > 0 else { return nil }
        let n = Double(targets)
        let r = bits.value / n
        let residual = bitsSquared.value - 2 * r * bitsTimesTargets.value + r * r * targetsSquared.value
        let u = Double(units)
        return (u / (u - 1) * max(0, residual)).squareRoot() / n
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on standard error: units done of total, rate and time left. It draws
/// only when standard error is a terminal (so logs and pipes stay clean), at most 10 times a second.
///
///     let bar = ProgressBar(total: size, unit: "B", label: "eval")
///     bar.update(done)      // any number of times
///     bar.finish()          // clears the line
final class ProgressBar {
    let total: Int?
    let unit: String
    let label: String
    let enabled: Bool
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    /// `total` nil draws a spinner-less counter; `enabled` defaults to isatty(2).
    init(total: Int?, unit: String, label: String = "", enabled: Bool = isatty(2) != 0) {
        self.total = total
        self.unit = unit
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let seconds = now.timeIntervalSince(started)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var line = label.isEmpty ? "" : label + " "
        if let total, total > 0 {
            let fraction = min(1, max(0, Double(done) / Double(total)))
            let width = 24
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            line += "\(Self.amount(done, unit)) / \(Self.amount(total, unit))  \(Self.amount(rate, unit))/s"
            if rate > 0 { line += "  \(Self.duration(Double(total - done) / rate)) left" }
        } else {
            line += "\(Self.amount(done, unit))  \(Self.amount(rate, unit))/s  \(Self.duration(seconds))"
        }
        write("\r\u{1B}[2K" + line)
        drawn = true
    }

    /// Clears the bar (the caller prints the result).
    func finish() {
        guard enabled, drawn else { return }
        write("\r\u{1B}[2K")
        drawn = false
    }

    private func write(_ text: String) { StandardStreams.error(text) }

    /// 1234567 → "1.23 MB" (SI prefixes).
    static func amount(_ value: some BinaryInteger, _ unit: String) -> String { amount(Double(value), unit) }
    static func amount(_ value: Double, _ unit: String) -> String {
        let prefixes = ["", "k", "M", "G", "T", "P"]
        var v = value
        var i = 0
        while abs(v) >= 1000, i < prefixes.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? String(format: "%.0f", v) + " " + unit : String(format: "%.2f", v) + " " + prefixes[i] + unit
    }

    /// 3725 → "1:02:05", 65 → "1:05".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

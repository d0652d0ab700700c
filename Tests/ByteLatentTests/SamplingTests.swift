import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// Sampling against transformers' own warpers: Tests/Fixtures/sampling/expected.json holds, for fixed logits
/// vectors and (temperature, top-k, top-p) settings, the distribution `generate(do_sample=True)` draws from
/// (the processors `_get_logits_processor` builds, in its order; Converters/reference/make_sampling_fixture.py).
final class SamplingTests: XCTestCase {
    struct Vector { var name: String; var logits: [Float]; var argmax: Int }

    struct Setting {
        var vector: Vector
        var temperature: Float
        var topK: Int
        var topP: Float
        var probabilities: [Double]
        var kept: Set<Int>
        /// Ids tied with the least likely kept one: transformers keeps some of them in torch.sort's order.
        var boundaryTies: Set<Int>
        var label: String { "\(vector.name) T=\(temperature) top-k \(topK) top-p \(topP)" }
        var options: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP) }
        /// Ids transformers keeps whatever its sort order among equal values.
        var surelyKept: Set<Int> { kept.subtracting(boundaryTies) }
    }

    static let fixture = "sampling/expected.json"

    static func load() throws -> (vectors: [Vector], settings: [Setting]) {
        let json = try Fixtures.json(fixture)
        let vectors = json["vectors"].array.map {
            Vector(name: $0["name"].string ?? "?", logits: $0["logits"].floats, argmax: $0["argmax"].int ?? -1)
        }
        XCTAssertEqual(vectors.map(\.name), ["model", "ties", "exact"], "vectors of \(fixture)")
        for v in vectors { XCTAssertEqual(v.logits.count, 260, "\(fixture): logits of \(v.name)") }
        let settings = try json["settings"].array.map { s -> Setting in
            let name = s["vector"].string ?? ""
            let vector = try XCTUnwrap(vectors.first { $0.name == name }, "\(fixture): no vector \(name)")
            let probabilities = s["probabilities"].array.compactMap(\.doubleValue)
            XCTAssertEqual(probabilities.count, 260, "\(fixture): probabilities")
            return Setting(vector: vector, temperature: Float(try XCTUnwrap(s["temperature"].double)),
                           topK: try XCTUnwrap(s["top_k"].int), topP: Float(try XCTUnwrap(s["top_p"].double)),
                           probabilities: probabilities, kept: Set(s["kept"].ints), boundaryTies: Set(s["boundary_ties"].ints))
        }
        XCTAssertEqual(settings.count, 20, "settings in \(fixture)")
        return (vectors, settings)
    }

    /// The kept ids and their probabilities equal transformers' (temperature, then top-k, then top-p).
    func testFilteredDistributionMatchesTransformersWarpers() throws {
        for s in try Self.load().settings {
            let ours = Sampler(s.options).probabilities(s.vector.logits[...])
            let kept = Set(ours.indices.filter { ours[$0] > 0 })
            XCTAssertEqual(kept.count, s.kept.count, "number of kept ids, \(s.label)")
            XCTAssertTrue(s.surelyKept.isSubset(of: kept), "\(s.label): transformers keeps \(s.surelyKept.subtracting(kept).sorted()) too")
            XCTAssertTrue(kept.isSubset(of: s.kept.union(s.boundaryTies)),
                          "\(s.label): kept \(kept.subtracting(s.kept.union(s.boundaryTies)).sorted()), outside transformers' set")
            XCTAssertEqual(ours.reduce(0, +), 1, accuracy: 1e-9, s.label)
            if s.boundaryTies.isEmpty || s.boundaryTies.isSubset(of: s.kept) {
                let worst = zip(ours, s.probabilities).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-6, "probabilities, \(s.label)")
            } else {
                // Which tied ids survive differs; the kept probabilities as a multiset do not.
                let a = ours.filter { $0 > 0 }.sorted(), b = s.probabilities.filter { $0 > 0 }.sorted()
                XCTAssertEqual(a.count, b.count, s.label)
                XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max() ?? .infinity, 1e-6, "probabilities, \(s.label)")
            }
        }
    }

    /// Draws against transformers' distribution. `sample` is `draw(probabilities(logits))` (checked on
    /// every setting, same seeds), `probabilities` equals transformers' (test above), and here `draw`'s
    /// frequencies match it. Statistic: the L1 distance between the empirical frequencies and the expected
    /// probabilities over m bins (the 24 most likely ids, the rest pooled). Bretagnolle–Huber–Carol:
    /// P(L1 ≥ ε) ≤ 2^m · exp(−n ε² / 2), so with ε = sqrt(2 (m ln 2 + ln(1/δ)) / n) a correct sampler
    /// fails with probability at most δ = 5e-8 per setting; over the 10 settings below the false-failure
    /// rate is at most 5e-7 < 1e-6 (union bound; the seeds are fixed, so the outcome is reproducible).
    /// Every draw must also be an id transformers keeps (a correct sampler never fails that).
    func testSampledFrequenciesMatchTransformers() throws {
        let draws = 100_000
        let delta = 5e-8
        let settings = try Self.load().settings
        for (n, s) in settings.enumerated() {
            var a = Sampler(SamplingOptions(temperature: s.temperature, topK: s.topK, topP: s.topP, seed: 500 + UInt64(n)))
            var b = a
            let probabilities = b.probabilities(s.vector.logits[...])
            for _ in 0..<200 { XCTAssertEqual(a.sample(s.vector.logits[...]), b.draw(probabilities), s.label) }
        }
        let chosen = settings.filter { $0.boundaryTies.isEmpty || $0.boundaryTies.isSubset(of: $0.kept) }.prefix(10)
        XCTAssertEqual(chosen.count, 10)
        for (n, s) in chosen.enumerated() {
            var sampler = Sampler(SamplingOptions(temperature: s.temperature, topK: s.topK, topP: s.topP, seed: 1000 + UInt64(n)))
            let probabilities = sampler.probabilities(s.vector.logits[...])
            var counts = [Int](repeating: 0, count: 260)
            for _ in 0..<draws { counts[Int(sampler.draw(probabilities) ?? -1)] += 1 }
            let outside = counts.indices.filter { counts[$0] > 0 && !s.kept.contains($0) }
            XCTAssertEqual(outside, [], "\(s.label): sampled ids transformers removes")
            let order = s.probabilities.indices.sorted { s.probabilities[$0] > s.probabilities[$1] }
            let own = Array(order.prefix(24)), rest = Array(order.dropFirst(24))
            var l1 = own.map { abs(Double(counts[$0]) / Double(draws) - s.probabilities[$0]) }.reduce(0, +)
            let restMass = rest.map { s.probabilities[$0] }.reduce(0, +)
            let restFrequency = Double(rest.map { counts[$0] }.reduce(0, +)) / Double(draws)
            l1 += abs(restFrequency - restMass)
            let bins = Double(own.count + (rest.isEmpty ? 0 : 1))
            let bound = (2 * (bins * M_LN2 + log(1 / delta)) / Double(draws)).squareRoot()
            XCTAssertLessThan(l1, bound, "\(s.label): L1 distance of \(draws) draws to transformers' distribution")
        }
    }

    /// Ties at the top-k / top-p boundary: as many ids as transformers keeps, never one it could not keep.
    /// The least likely kept id of these settings has probability > 0.02, so a correct sampler misses one
    /// in 20 000 draws with probability < 0.98^20000 < 1e-100.
    func testTiedBoundariesKeepTransformersCount() throws {
        let settings = try Self.load().settings.filter { !$0.boundaryTies.isSubset(of: $0.kept) }
        XCTAssertGreaterThanOrEqual(settings.count, 4, "tie settings in \(Self.fixture)")
        for (n, s) in settings.enumerated() {
            var sampler = Sampler(SamplingOptions(temperature: s.temperature, topK: s.topK, topP: s.topP, seed: 77 + UInt64(n)))
            let probabilities = sampler.probabilities(s.vector.logits[...])
            var seen = Set<Int>()
            for _ in 0..<20_000 { seen.insert(Int(sampler.draw(probabilities) ?? -1)) }
            XCTAssertTrue(seen.isSubset(of: s.kept.union(s.boundaryTies)), "\(s.label): \(seen.sorted())")
            XCTAssertEqual(seen.count, s.kept.count, "\(s.label): every kept id is drawn, no other")
        }
    }

    /// NaN or infinite logits make no id (never 0, the padding id, as a fallback), and temperatures
    /// below the minimum are greedy instead of overflowing into NaN probabilities.
    func testNonFiniteLogitsMakeNoIdAndTinyTemperaturesAreGreedy() throws {
        var logits = [Float](repeating: 0, count: 260)
        logits[72] = 3
        for temperature: Float in [0, 1e-38, 1e-4, SamplingOptions.minimumTemperature / 2] {
            var sampler = Sampler(SamplingOptions(temperature: temperature, seed: 3))
            XCTAssertEqual(sampler.sample(logits[...]), 72, "temperature \(temperature)")
        }
        for bad: Float in [.nan, .infinity, -.infinity] {
            var broken = logits
            broken[5] = bad
            for temperature: Float in [0, 0.7] {
                var sampler = Sampler(SamplingOptions(temperature: temperature, seed: 3))
                XCTAssertNil(sampler.sample(broken[...]), "\(bad) at temperature \(temperature)")
            }
        }
        var sampler = Sampler(SamplingOptions(temperature: 1, seed: 3))
        XCTAssertNil(sampler.draw([Double](repeating: 0, count: 260)), "no id has any probability")
        XCTAssertNil(sampler.draw([Double](repeating: .nan, count: 260)))
    }

    /// Temperature 0 is transformers' argmax whatever top-k, top-p and seed say.
    func testTemperatureZeroIsArgmax() throws {
        let vectors = try Self.load().vectors
        for v in vectors {
            for (k, p, seed) in [(0, Float(0), UInt64(0)), (3, 0.5, 9), (1, 0.9, 123), (50, 0.2, 5)] {
                var sampler = Sampler(SamplingOptions(temperature: 0, topK: k, topP: p, seed: seed))
                for _ in 0..<5 { XCTAssertEqual(sampler.sample(v.logits[...]).map(Int.init), v.argmax, "\(v.name) k \(k) p \(p)") }
            }
        }
    }

    /// Through the generator: temperature 0 (any filters and seed), top-k 1 and a tiny top-p at any
    /// temperature all give transformers' greedy continuation.
    func testGreedyEquivalentSamplingGivesTransformersGreedyIDs() throws {
        let directory = ReferenceParityTests.directory("tiny-a")
        let model = try BLTModel(directory: directory)
        for (prompt, _, reference) in try GenerationTests.referenceGenerations(in: directory) {
            for options in [SamplingOptions(temperature: 0, topK: 5, topP: 0.5, seed: 11),
                            SamplingOptions(temperature: 1.7, topK: 1, seed: 12),
                            SamplingOptions(temperature: 0.9, topP: 1e-6, seed: 13)] {
                let generated = Array(try ByteGenerator(model: model, prompt: prompt, sampling: options,
                                                    maxNewIDs: reference.count, stopAtEOS: false))
                XCTAssertEqual(generated, reference, "\(options)")
            }
        }
    }
}

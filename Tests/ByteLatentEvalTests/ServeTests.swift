import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval
import JSONSupport

/// The lm-eval scoring service: `RequestScorer` and `blt serve --stdio` against loglikelihoods and
/// is_greedy computed by transformers (Tests/Fixtures/lm-eval, Converters/reference/make_lm_eval_fixtures.py).
final class ServeTests: XCTestCase {
    struct Expected { var context: String; var continuation: String; var logLikelihood: Double; var isGreedy: Bool }

    static func fixtureModels() throws -> [(path: String, requests: [Expected])] {
        let json = try Fixtures.json("lm-eval/expected.json")
        let root = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        return json["models"]?.objectItems?.map { _, model in
            let requests = model["requests"].array.map { r -> Expected in
                let value = Optional(r)
                return Expected(context: value["context"].string ?? "?", continuation: value["continuation"].string ?? "?",
                                logLikelihood: value["loglikelihood"].double ?? .nan, isGreedy: value["is_greedy"]?.boolValue ?? false)
            }
            return (root.appendingPathComponent(model["path"].string ?? "?").path, requests)
        } ?? []
    }

    func assertMatches(_ result: Result<ScoringResult, ScoringError>, _ expected: Expected, _ label: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard case .success(.loglikelihood(let ll, let isGreedy)) = result else {
            return XCTFail("\(label): \(result)", file: file, line: line)
        }
        XCTAssertLessThanOrEqual(abs(ll - expected.logLikelihood), 1e-4 * abs(expected.logLikelihood),
                                 "\(label): \(ll) vs transformers \(expected.logLikelihood)", file: file, line: line)
        XCTAssertEqual(isGreedy, expected.isGreedy, "\(label): is_greedy", file: file, line: line)
    }

    /// Every fixture request, scored in one batch (contexts shared) and again one at a time in
    /// reverse order (a fresh context each time), equals transformers' fp32 full forward.
    func testLoglikelihoodAndIsGreedyMatchTransformers() throws {
        let models = try Self.fixtureModels()
        XCTAssertGreaterThanOrEqual(models.count, 6)
        var greedy = 0
        for (path, requests) in models {
            XCTAssertGreaterThan(requests.count, 5)
            let scorer = try RequestScorer(model: try BLTModel(directory: path))
            let batch = scorer.score(requests.map { .loglikelihood(context: Array($0.context.utf8), continuation: Array($0.continuation.utf8)) })
            for (result, expected) in zip(batch, requests) {
                assertMatches(result, expected, "\(path) \(expected.context.debugDescription)+\(expected.continuation.debugDescription)")
                if expected.isGreedy { greedy += 1 }
            }
            for expected in requests.reversed() {
                let one = scorer.score([.loglikelihood(context: Array(expected.context.utf8), continuation: Array(expected.continuation.utf8))])[0]
                assertMatches(one, expected, "\(path) single \(expected.continuation.debugDescription)")
            }
        }
        XCTAssertGreaterThan(greedy, 5, "the fixture must hold greedy continuations too")
    }

    /// Shared contexts (one prefill per context, a copy of its state per continuation) give every request
    /// what one full forward pass over BOS + context + continuation gives it alone, within 2e-6 relative,
    /// on every fixture model: the saving changes no figure beyond rounding (the cached and the full
    /// pass sum in different orders; the generic path with single-threaded OpenBLAS slices differs by
    /// up to 1.1e-6 relative on tiny-b, the other paths by less than 1e-6).
    func testSharedContextEqualsEachRequestsOwnFullForwardPass() throws {
        var shared = 0
        for (path, requests) in try Self.fixtureModels() {
            let model = try BLTModel(directory: path)
            let results = try RequestScorer(model: model).score(requests.map {
                .loglikelihood(context: Array($0.context.utf8), continuation: Array($0.continuation.utf8))
            })
            shared += requests.count - Set(requests.map(\.context)).count
            for (result, request) in zip(results, requests) where !request.continuation.isEmpty {
                let label = "\(path) \(request.context.debugDescription)+\(request.continuation.debugDescription)"
                guard case .success(.loglikelihood(let logLikelihood, _)) = result else { XCTFail("\(label): \(result)"); continue }
                let ids = Tokenizer.encode(Array(request.context.utf8) + Array(request.continuation.utf8), addEOS: false)
                let nlls = Scoring.targetNLLs(logits: try model.logits(ids), ids: ids, width: model.vocabularySize)
                let alone = -nlls.suffix(request.continuation.utf8.count).reduce(0, +)
                XCTAssertLessThanOrEqual(abs(logLikelihood - alone), 2e-6 * abs(alone), "\(label): shared \(logLikelihood), alone \(alone)")
            }
        }
        XCTAssertGreaterThan(shared, 10, "the fixtures must hold many requests that share a context")
    }

    /// Rolling loglikelihood: the same windows and sums as `blt eval --no-eos`, and (in one window)
    /// the same value as loglikelihood with an empty context, which takes the incremental path.
    func testRollingEqualsEvalNoEOSAndEmptyContextLoglikelihood() throws {
        let path = try XCTUnwrap(try Self.fixtureModels().first { $0.path.hasSuffix("blt-tiny") }).path
        let model = try BLTModel(directory: path)
        let text = Array("Names refer to objects. Names are introduced by name binding operations. A scope defines the visibility.".utf8)
        let windowed = try RequestScorer(model: model, window: 40, context: 8)
        guard case .loglikelihoodRolling(let ll, let bytes, let windows) = try windowed.score(.loglikelihoodRolling(text: text)) else {
            return XCTFail("not a rolling result")
        }
        let eval = try Evaluator(model: model, options: EvalOptions(window: 40, context: 8, addEOS: false)).score(bytes: text)
        XCTAssertEqual(ll, -eval.nllNats)
        XCTAssertEqual(bytes, text.count)
        XCTAssertEqual(windows, eval.windows)
        XCTAssertGreaterThan(windows, 2)

        let whole = try RequestScorer(model: model)
        guard case .loglikelihoodRolling(let rolling, _, 1) = try whole.score(.loglikelihoodRolling(text: text)),
              case .loglikelihood(let incremental, _) = try whole.score(.loglikelihood(context: [], continuation: text)) else {
            return XCTFail("unexpected results")
        }
        XCTAssertEqual(rolling, incremental, accuracy: 1e-6 * abs(rolling), "fp32 rounding differs between the two paths, nothing more")
    }

    /// generate_until: transformers' greedy bytes (the model fixtures' generations) cut before the
    /// first stop string; max_bytes caps the output.
    func testGenerateUntilCutsTransformersGreedyOutputAtTheStop() throws {
        var checked = 0
        for directory in Fixtures.modelDirectories {
            let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
            let scorer = try RequestScorer(model: try BLTModel(directory: directory))
            for run in expected["generation"].array {
                var reference = run["generated_ids"].ints.map(Int32.init)
                if let eos = reference.firstIndex(of: Tokenizer.eosID) { reference = Array(reference[..<eos]) }
                let bytes = Tokenizer.decodeBytes(reference)
                guard bytes.count > 20 else { continue }
                let stop = Array(bytes[12..<15])
                let cut = (0...(bytes.count - 3)).first { Array(bytes[$0..<($0 + 3)]) == stop }!
                let context = Tokenizer.decodeBytes(run["prompt_ids"].ints.map(Int32.init))
                let result = try scorer.score(.generateUntil(context: context, until: [Array("\u{0}never".utf8), stop], maxBytes: 64))
                XCTAssertEqual(result, .generateUntil(bytes: Array(bytes[..<cut])), "\(directory)")
                let capped = try scorer.score(.generateUntil(context: context, until: [], maxBytes: 5))
                XCTAssertEqual(capped, .generateUntil(bytes: Array(bytes.prefix(5))), "\(directory)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 3)
    }

    func testProtocolParsesRequestsAndReportsBadOnes() throws {
        func parse(_ s: String) -> ServeProtocol.Line { ServeProtocol.parse(Array(s.utf8)) }
        XCTAssertEqual(try parse(#"{"type":"loglikelihood","context":"a\u00e9","continuation":" b","id":7}"#).request.get(),
                       .loglikelihood(context: Array("aé".utf8), continuation: Array(" b".utf8)))
        XCTAssertEqual(parse(#"{"type":"loglikelihood","context":"","continuation":"x","id":7}"#).id, .int(7))
        XCTAssertEqual(try parse(#"{"type":"generate_until","context":"q","until":["\n\n","."],"max_bytes":3}"#).request.get(),
                       .generateUntil(context: [0x71], until: [[0x0A, 0x0A], [0x2E]], maxBytes: 3))
        XCTAssertEqual(try parse(#"{"type":"loglikelihood_rolling","text":"t"}"#).request.get(), .loglikelihoodRolling(text: [0x74]))

        func error(_ line: [UInt8]) -> String {
            guard case .failure(let e) = ServeProtocol.parse(line).request else { return "no error" }
            return e.description
        }
        XCTAssertTrue(error([0x7B, 0xFF, 0x7D]).contains("not valid UTF-8"))
        XCTAssertTrue(error(Array(#"{"type":"perplexity"}"#.utf8)).contains("unknown request type \"perplexity\""))
        XCTAssertTrue(error(Array(#"{"type":"loglikelihood","context":"a"#.utf8)).contains("malformed JSON"))
        XCTAssertTrue(error(Array("[1,2]".utf8)).contains("JSON object"))
        XCTAssertTrue(error(Array(#"{"type":"loglikelihood","context":1,"continuation":"x"}"#.utf8)).contains("\"context\" must be a string"))
        XCTAssertTrue(error(Array(#"{"type":"generate_until","context":"x","max_bytes":-1}"#.utf8)).contains("max_bytes"))

        XCTAssertEqual(ServeProtocol.response(.success(.loglikelihood(logLikelihood: -1.5, isGreedy: true)), id: .string("q\n1")),
                       #"{"id":"q\n1","loglikelihood":-1.5,"is_greedy":true}"#)
        XCTAssertEqual(ServeProtocol.response(.failure(.invalid("bad \"x\"")), id: nil), #"{"error":"bad \"x\""}"#)
    }

    func testTooLongContextIsAnErrorAndTheScorerKeepsWorking() throws {
        let (path, requests) = try XCTUnwrap(try Self.fixtureModels().first)
        let scorer = try RequestScorer(model: try BLTModel(directory: path))
        let long = [UInt8](repeating: 0x61, count: scorer.maxPositions)
        let results = scorer.score([.loglikelihood(context: long, continuation: [0x62]),
                                    .generateUntil(context: long, until: [], maxBytes: 1),
                                    .loglikelihood(context: Array(requests[1].context.utf8), continuation: Array(requests[1].continuation.utf8))])
        for bad in results.prefix(2) {
            guard case .failure(let error) = bad else { return XCTFail("expected an error, got \(bad)") }
            XCTAssertTrue(error.description.contains("at most \(scorer.maxPositions)"), error.description)
        }
        assertMatches(results[2], requests[1], "after errors")
    }

    /// `blt serve --stdio` end to end: one response line per request line, in order, errors included,
    /// and the service keeps serving after each bad line.
    func testServeSubprocessAnswersEveryLineInOrder() throws {
        guard let executable = bltExecutable() else { throw TestSupportError("blt is not built; run `swift build` first") }
        let (path, requests) = try XCTUnwrap(try Self.fixtureModels().first { $0.path.hasSuffix("tiny-b") })
        func line(_ r: Expected) -> Data {
            Data(JSONValue.object([("type", .string("loglikelihood")), ("context", .string(r.context)),
                                   ("continuation", .string(r.continuation))]).serialized(.line).utf8 + [0x0A])
        }
        var input = Data()
        input += line(requests[0])
        input += Data([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D, 0x0A])                       // invalid UTF-8
        input += line(requests[1])
        input += Data(#"{"type":"loglikelihood_window","text":"x"}"#.utf8 + [0x0A])     // unknown type
        input += Data(#"{"type":"loglikelihood","context":"#.utf8 + [0x0A])              // malformed JSON
        input += Data((#"{"type":"loglikelihood","context":""# + String(repeating: "z", count: 70_000) + #"","continuation":"a"}"#).utf8 + [0x0A])
        input += line(requests[2])
        input += Data("\n".utf8)                                                            // blank: no response
        input += line(requests[3])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--stdio", "--model", path]
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        let lines = output.split(separator: 0x0A).map { try? JSONValue.parse(Data($0)) }
        XCTAssertEqual(lines.count, 8, String(decoding: output, as: UTF8.self))
        guard lines.count == 8 else { return }
        for (index, expected) in [(0, requests[0]), (2, requests[1]), (6, requests[2]), (7, requests[3])] {
            let value = lines[index]
            let ll = try XCTUnwrap(value["loglikelihood"].double, "line \(index): \(String(describing: value))")
            XCTAssertLessThanOrEqual(abs(ll - expected.logLikelihood), 1e-4 * abs(expected.logLikelihood), "line \(index)")
            XCTAssertEqual(value["is_greedy"]?.boolValue, expected.isGreedy, "line \(index)")
        }
        XCTAssertTrue(lines[1]["error"].string?.contains("UTF-8") == true, "\(String(describing: lines[1]))")
        XCTAssertTrue(lines[3]["error"].string?.contains("unknown request type") == true)
        XCTAssertTrue(lines[4]["error"].string?.contains("malformed JSON") == true)
        XCTAssertTrue(lines[5]["error"].string?.contains("the model takes at most") == true, "\(String(describing: lines[5]))")
    }

    /// NaN logits end generate_until with the error eval gives, never bytes made up for them.
    func testGenerateUntilReportsNonFiniteLogits() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-serve-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let scorer = try RequestScorer(model: try BLTModel(directory: try Fixtures.nonFiniteHeadModel(in: scratch.path)))
        XCTAssertThrowsError(try scorer.score(.generateUntil(context: Array("hi".utf8), until: [], maxBytes: 5))) {
            XCTAssertTrue("\($0)".contains("NaN or infinite logits"), "\($0)")
        }
    }
}

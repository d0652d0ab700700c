import ByteLatent
import Foundation
import Safetensors
import JSONSupport

/// The line protocol of `blt serve --stdio` (Docs/lm-eval.md): one JSON object per line in, one
/// JSON object per line out, in the same order. Requests:
///
///     {"type": "loglikelihood", "context": "Q: 2+2=", "continuation": " 4"}
///     {"type": "loglikelihood_rolling", "text": "A whole document."}
///     {"type": "generate_until", "context": "Q: hi\nA:", "until": ["\n"], "max_bytes": 64}
///
/// Responses: `{"loglikelihood": -3.2, "is_greedy": false}`, `{"loglikelihood": -40.1, "bytes": 17,
/// "windows": 1}`, `{"text": " hello"}`, or `{"error": "message"}` for a request that could not be
/// served. A request's optional `"id"` (any JSON value) is echoed in its response.
public enum ServeProtocol {
    /// A parsed line: the request, or why it is not one; plus the id to echo.
    public struct Line {
        package var id: JSONValue?
        public var request: Result<ScoringRequest, ScoringError>
    }

    /// Parses one request line (without its newline). Never throws: a bad line becomes a failed request.
    public static func parse(_ line: [UInt8]) -> Line {
        guard String(validating: line, as: UTF8.self) != nil else {
            return Line(id: nil, request: .failure(.invalid("the request line is not valid UTF-8; send JSON text encoded as UTF-8")))
        }
        let value: JSONValue
        do { value = try JSONValue.parse(line, path: "request", options: .documents) } catch {
            return Line(id: nil, request: .failure(.invalid("malformed JSON: \(error)")))
        }
        guard value.objectItems != nil else {
            return Line(id: nil, request: .failure(.invalid("a request must be a JSON object with a \"type\" field")))
        }
        // An id is echoed as read: one JSON cannot hold (1e400, NaN) is refused, not echoed as Infinity.
        if case .number(let n)? = value["id"], !n.double.isFinite {
            return Line(id: nil, request: .failure(.invalid("the request id \(n.text) is not a finite number; use a string or an integer id")))
        }
        return Line(id: value["id"], request: Result { try request(value) }.mapError { $0 as? ScoringError ?? .invalid("\($0)") })
    }

    static func request(_ value: JSONValue) throws -> ScoringRequest {
        func text(_ key: String) throws -> [UInt8] {
            guard let field = value[key] else { throw ScoringError.invalid("missing field \"\(key)\" (a string)") }
            guard let s = field.stringValue else { throw ScoringError.invalid("field \"\(key)\" must be a string") }
            return Array(s.utf8)
        }
        guard let type = value["type"]?.stringValue else {
            throw ScoringError.invalid("missing field \"type\": one of loglikelihood, loglikelihood_rolling, generate_until")
        }
        switch type {
        case "loglikelihood":
            return .loglikelihood(context: try text("context"), continuation: try text("continuation"))
        case "loglikelihood_rolling":
            return .loglikelihoodRolling(text: try text("text"))
        case "generate_until":
            var until: [[UInt8]] = []
            if let field = value["until"], !field.isNull {
                if let single = field.stringValue {
                    until = [Array(single.utf8)]
                } else if case .array(let items) = field, items.allSatisfy({ $0.stringValue != nil }) {
                    until = items.map { Array($0.stringValue!.utf8) }
                } else {
                    throw ScoringError.invalid("field \"until\" must be a string or a list of strings")
                }
            }
            guard let maxField = value["max_bytes"] else { throw ScoringError.invalid("missing field \"max_bytes\" (an integer)") }
            guard let maxBytes = maxField.intValue, maxBytes >= 0 else {
                throw ScoringError.invalid("field \"max_bytes\" must be an integer ≥ 0")
            }
            return .generateUntil(context: try text("context"), until: until, maxBytes: maxBytes)
        default:
            throw ScoringError.invalid("unknown request type \"\(type)\"; expected loglikelihood, loglikelihood_rolling or generate_until")
        }
    }

    /// The response line (without its newline) for a result.
    package static func response(_ result: Result<ScoringResult, ScoringError>, id: JSONValue?) -> String {
        var items: [(String, JSONValue)] = []
        if let id { items.append(("id", id)) }
        switch result {
        case .success(.loglikelihood(let logLikelihood, let isGreedy)):
            items += [("loglikelihood", .double(logLikelihood)), ("is_greedy", .bool(isGreedy))]
        case .success(.loglikelihoodRolling(let logLikelihood, let bytes, let windows)):
            items += [("loglikelihood", .double(logLikelihood)), ("bytes", .int(bytes)), ("windows", .int(windows))]
        case .success(.generateUntil(let bytes)):
            items.append(("text", .string(String(decoding: bytes, as: UTF8.self))))
        case .failure(let error):
            items.append(("error", .string(error.description)))
        }
        return JSONValue.object(items).serialized(.line)
    }
}

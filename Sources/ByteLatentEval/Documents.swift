import ByteLatent
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// How an input holds its documents.
public enum DocumentFormat: String, Sendable, CaseIterable {
    /// The whole input is one document (any bytes, not only UTF-8).
    case text
    /// One JSON object per line; the document is one string field of it (UTF-8 encoded).
    case jsonl
}

/// One input of an evaluation: a file, or standard input for "-".
public struct DocumentInput: Sendable, Equatable {
    public var path: String
    public var format: DocumentFormat

    public init(path: String, format: DocumentFormat) {
        self.path = path
        self.format = format
    }

    /// `format` if given, else JSONL for a `.jsonl` name and plain text otherwise ("-" is plain text).
    public init(path: String, format: DocumentFormat? = nil) {
        self.path = path
        self.format = format ?? (path.lowercased().hasSuffix(".jsonl") ? .jsonl : .text)
    }

    public var isStandardInput: Bool { path == "-" }
    public var displayName: String { isStandardInput ? "<stdin>" : path }
}

/// Shard I of N (`I/N`, 0 ≤ I < N): the evaluator's packed passes are numbered in input order
/// (documents numbered across all inputs; a document split over several passes keeps them in one
/// group), and the shard scores every N-th group starting at I. The N shards of one run split its
/// documents without overlap and compute exactly the passes the whole run computes.
public struct Shard: Sendable, Equatable, Codable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public static let whole = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses "I/N".
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n,
              n <= EvalSummary.maxShardCount else {
            throw DocumentError.badShard(text)
        }
        self.init(index: i, count: n)
    }

    /// Whether this shard scores group `group` (see `Evaluator`: consecutive packed passes).
    public func owns(_ group: Int) -> Bool { group % count == index }
    public var description: String { "\(index)/\(count)" }
}

/// A document to score.
public struct Document: Sendable {
    /// Position among every document of the run (all inputs, all shards), from 0.
    public var ordinal: Int
    /// The file name, or "file:line" for a JSONL line.
    public var name: String
    public var bytes: [UInt8]
    /// Where the document lies in the run's input bytes (for progress).
    public var inputRange: Range<Int>
}

/// A JSONL line that could not be read as a document, when bad lines are skipped.
public struct BadLine: Sendable, Equatable {
    public var ordinal: Int
    public var file: String
    public var line: Int
    public var reason: String
}

public enum DocumentError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case isDirectory(String)
    case unreadable(path: String, reason: String)
    case malformedLine(file: String, line: Int, reason: String)
    case badShard(String)
    /// A text document larger than the reader's limit (`DocumentReader.maxDocumentBytes`).
    case tooLarge(path: String, limit: Int)
    case badLimit(Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "input file '\(path)' does not exist; check the path (use '-' for standard input)"
        case .isDirectory(let path):
            return "input '\(path)' is a directory; pass the files in it (e.g. \(path)/*.jsonl)"
        case .unreadable(let path, let reason):
            return "cannot read input file '\(path)': \(reason)"
        case .malformedLine(let file, let line, let reason):
            return "\(file):\(line): \(reason); fix the line, or let the reader skip such lines (DocumentReader's skipBadLines; they are counted)"
        case .badShard(let text):
            return "shard '\(text)' is not I/N with 0 ≤ I < N ≤ \(EvalSummary.maxShardCount) (e.g. 0/4)"
        case .tooLarge(let path, let limit):
            return "input '\(path)' holds more than \(limit) bytes, the most one document may hold; split it, or raise the maximum document size if it is meant as one document"
        case .badLimit(let limit):
            return "the maximum document size must be at least 1 byte (got \(limit))"
        }
    }
}

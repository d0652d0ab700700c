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

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "input file '\(path)' does not exist; check the path (use '-' for standard input)"
        case .isDirectory(let path):
            return "input '\(path)' is a directory; pass the files in it (e.g. \(path)/*.jsonl)"
        case .unreadable(let path, let reason):
            return "cannot read input file '\(path)': \(reason)"
        case .malformedLine(let file, let line, let reason):
            return "\(file):\(line): \(reason); fix the line, or pass --skip-bad-lines to skip such lines (they are counted)"
        case .badShard(let text):
            return "--shard '\(text)' is not I/N with 0 ≤ I < N ≤ \(EvalSummary.maxShardCount) (e.g. --shard 0/4)"
        }
    }
}

/// Reads documents from files, JSONL files and standard input, in order, one at a time.
public struct DocumentReader: Sendable {
    public var inputs: [DocumentInput]
    /// The JSONL field holding the text.
    public var field: String
    /// Skip (and report) malformed JSONL lines instead of stopping at the first.
    public var skipBadLines: Bool

    public init(inputs: [DocumentInput], field: String = "text", skipBadLines: Bool = false) {
        self.inputs = inputs
        self.field = field
        self.skipBadLines = skipBadLines
    }

    /// Checks that every input file exists and is readable, before any work starts.
    public func checkInputs() throws {
        for input in inputs where !input.isStandardInput {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
                throw DocumentError.fileNotFound(input.path)
            }
            if isDirectory.boolValue { throw DocumentError.isDirectory(input.path) }
            guard FileManager.default.isReadableFile(atPath: input.path) else {
                throw DocumentError.unreadable(path: input.path, reason: "permission denied")
            }
        }
    }

    /// Total input size in bytes, when every input is a file (standard input's size is unknown).
    public func totalInputBytes() -> Int? {
        var total = 0
        for input in inputs {
            if input.isStandardInput { return nil }
            guard let size = (try? FileManager.default.attributesOfItem(atPath: input.path))?[.size] as? NSNumber else { return nil }
            total += size.intValue
        }
        return total
    }

    public enum Event {
        case document(Document)
        case badLine(BadLine)
    }

    /// Calls `body` for every document, in order (empty documents included, as documents with no
    /// bytes), and for each skipped malformed line. Every shard reads every document: which ones it
    /// scores depends on how they pack (`Shard`). Blank JSONL lines are not documents and take no number.
    public func forEach(_ body: (Event) throws -> Void) throws {
        var ordinal = 0
        var offset = 0
        for input in inputs {
            let data = try read(input)
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let bytes = raw.bindMemory(to: UInt8.self)
                switch input.format {
                case .text:
                    try body(.document(Document(ordinal: ordinal, name: input.displayName, bytes: Array(bytes),
                                                inputRange: offset ..< offset + bytes.count)))
                    ordinal += 1
                case .jsonl:
                    var lineStart = 0
                    var lineNumber = 0
                    while lineStart < bytes.count {
                        lineNumber += 1
                        var lineEnd = lineStart
                        while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
                        let next = min(bytes.count, lineEnd + 1)
                        defer { lineStart = next }
                        var contentEnd = lineEnd
                        if contentEnd > lineStart, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
                        let line = UnsafeBufferPointer(rebasing: bytes[lineStart ..< contentEnd])
                        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                        defer { ordinal += 1 }
                        let name = "\(input.displayName):\(lineNumber)"
                        let range = offset + lineStart ..< offset + next
                        do {
                            let text = try Self.text(of: line, field: field)
                            try body(.document(Document(ordinal: ordinal, name: name, bytes: Array(text.utf8), inputRange: range)))
                        } catch let reason as LineError {
                            if !skipBadLines {
                                throw DocumentError.malformedLine(file: input.displayName, line: lineNumber, reason: reason.message)
                            }
                            try body(.badLine(BadLine(ordinal: ordinal, file: input.displayName, line: lineNumber, reason: reason.message)))
                        }
                    }
                }
            }
            offset += data.count
        }
    }

    struct LineError: Error { var message: String }

    static func text(of line: UnsafeBufferPointer<UInt8>, field: String) throws -> String {
        // Text that is not UTF-8 (or a lone surrogate escape) is a bad line, never U+FFFD scored as text.
        guard String(validating: line, as: UTF8.self) != nil else { throw LineError(message: "not valid UTF-8") }
        let value: JSONValue
        do { value = try JSONParser.parse(line, options: .documents) } catch let error as JSONParseError {
            throw LineError(message: "not valid JSON at byte \(error.offset + 1) of the line: \(error.message)")
        }
        guard case .object = value else { throw LineError(message: "not a JSON object") }
        switch value[field] {
        case .string(let text)?: return text
        case nil: throw LineError(message: "no field '\(field)' (choose the field with --field NAME)")
        case .some(let other): throw LineError(message: "field '\(field)' is \(other.typeName), not a string")
        }
    }

    /// All of standard input through read(2): an error (closed descriptor, I/O error) is thrown, where
    /// FileHandle.readDataToEndOfFile() would abort the process.
    static func readStandardInput() throws -> Data { try readAll(0, name: "<stdin>") }

    static func readAll(_ fd: Int32, name: String) throws -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                throw DocumentError.unreadable(path: name, reason: String(cString: strerror(errno)))
            }
            out.append(contentsOf: buffer[0 ..< n])
        }
    }

    func read(_ input: DocumentInput) throws -> Data {
        if input.isStandardInput { return try Self.readStandardInput() }
        var info = stat()
        if stat(input.path, &info) == 0, info.st_mode & S_IFMT != S_IFREG, info.st_mode & S_IFMT != S_IFDIR {
            // A FIFO or process substitution (`<(zcat docs.jsonl.gz)`): read it as a stream.
            let fd = open(input.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw DocumentError.unreadable(path: input.path, reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            return try Self.readAll(fd, name: input.path)
        }
        // Foundation leaks a buffer on every mapped read of an empty file (found by the FuzzJSONL
        // harness under LeakSanitizer): an empty file is simply no bytes.
        if stat(input.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size == 0 { return Data() }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: input.path), options: .alwaysMapped)
        } catch {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) { throw DocumentError.fileNotFound(input.path) }
            if isDirectory.boolValue { throw DocumentError.isDirectory(input.path) }
            throw DocumentError.unreadable(path: input.path, reason: (error as NSError).localizedDescription)
        }
    }
}

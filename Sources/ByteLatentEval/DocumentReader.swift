import ByteLatent
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// Reads documents from files, JSONL files and standard input, in order, one at a time.
///
/// A document — a text input, or one JSONL line — holds at most `maxDocumentBytes` bytes. Files are
/// mapped; streams (standard input, FIFOs, `<(zcat …)`, devices) are read as they come, JSONL line
/// by line, so a stream of any length can be scored and an endless one (`/dev/zero`) ends in an
/// error at the limit instead of growing until memory runs out.
public struct DocumentReader: Sendable {
    public var inputs: [DocumentInput]
    /// The JSONL field holding the text.
    public var field: String
    /// Skip (and report) malformed JSONL lines, too long ones included, instead of stopping at the first.
    public var skipBadLines: Bool
    /// Bytes one document (a text input, or a JSONL line) may hold at most.
    public var maxDocumentBytes: Int

    /// 64 MiB: more than a day of scoring for blt-1b on a CPU (about 100 bytes/s), and a bound on
    /// what one document costs in memory before any scoring.
    public static let defaultMaxDocumentBytes = 64 << 20

    public init(inputs: [DocumentInput], field: String = "text", skipBadLines: Bool = false,
                maxDocumentBytes: Int = DocumentReader.defaultMaxDocumentBytes) {
        self.inputs = inputs
        self.field = field
        self.skipBadLines = skipBadLines
        self.maxDocumentBytes = maxDocumentBytes
    }

    /// Checks the limit and that every input file exists and is readable, before any work starts.
    public func checkInputs() throws {
        guard maxDocumentBytes >= 1 else { throw DocumentError.badLimit(maxDocumentBytes) }
        for input in inputs where !input.isStandardInput {
            var info = stat()
            guard stat(input.path, &info) == 0 else { throw Self.inputError(input.path, errno: errno) }
            if info.st_mode & S_IFMT == S_IFDIR { throw DocumentError.isDirectory(input.path) }
            guard FileManager.default.isReadableFile(atPath: input.path) else {
                throw DocumentError.unreadable(path: input.path, reason: "permission denied")
            }
        }
    }

    /// Total input size in bytes, when every input is a regular file (a stream's size is unknown).
    public func totalInputBytes() -> Int? {
        var total = 0
        for input in inputs {
            if input.isStandardInput { return nil }
            var info = stat()
            guard stat(input.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            total += Int(info.st_size)
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
        guard maxDocumentBytes >= 1 else { throw DocumentError.badLimit(maxDocumentBytes) }
        var ordinal = 0
        var offset = 0
        for input in inputs {
            var lines = JSONLines(reader: self, input: input, ordinal: ordinal, offset: offset)
            if let data = try mapped(input) {
                try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                    let bytes = raw.bindMemory(to: UInt8.self)
                    switch input.format {
                    case .text:
                        guard bytes.count <= maxDocumentBytes else { throw DocumentError.tooLarge(path: input.displayName, limit: maxDocumentBytes) }
                        try body(.document(Document(ordinal: ordinal, name: input.displayName, bytes: Array(bytes),
                                                    inputRange: offset ..< offset + bytes.count)))
                        ordinal += 1
                    case .jsonl:
                        try lines.take(bytes, final: true, body)
                    }
                }
                offset += data.count
            } else {
                let fd = input.isStandardInput ? 0 : open(input.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw DocumentError.unreadable(path: input.path, reason: String(cString: strerror(errno))) }
                defer { if !input.isStandardInput { close(fd) } }
                switch input.format {
                case .text:
                    let bytes = try Self.read(fd, name: input.displayName, limit: maxDocumentBytes)
                    try body(.document(Document(ordinal: ordinal, name: input.displayName, bytes: bytes,
                                                inputRange: offset ..< offset + bytes.count)))
                    ordinal += 1
                    offset += bytes.count
                case .jsonl:
                    try Self.stream(fd, name: input.displayName) { chunk, final in try lines.take(chunk, final: final, body) }
                }
            }
            if input.format == .jsonl { (ordinal, offset) = (lines.ordinal, lines.offset) }
        }
    }

    /// An input `stat` refused with `code`: a path that does not exist is `fileNotFound`; a link
    /// loop, a link to nothing or a permission problem is named (`FileReadFailure`).
    static func inputError(_ path: String, errno code: Int32) -> DocumentError {
        let failure = FileReadFailure(path: path, errno: code)
        return failure.isMissingPath ? .fileNotFound(path) : .unreadable(path: path, reason: failure.reason)
    }

    /// A regular file's bytes, mapped; nil for a stream (standard input, FIFO, device).
    func mapped(_ input: DocumentInput) throws -> Data? {
        if input.isStandardInput { return nil }
        var info = stat()
        guard stat(input.path, &info) == 0 else {
            throw Self.inputError(input.path, errno: errno)
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw DocumentError.isDirectory(input.path)
        case S_IFREG: break
        default: return nil
        }
        // Foundation leaks a buffer on every mapped read of an empty file (found by the FuzzJSONL
        // harness under LeakSanitizer): an empty file is simply no bytes.
        if info.st_size == 0 { return Data() }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: input.path), options: .alwaysMapped)
        } catch {
            throw DocumentError.unreadable(path: input.path, reason: (error as NSError).localizedDescription)
        }
    }

    /// All of a stream through read(2), up to `limit` bytes (more is `tooLarge`); an error (closed
    /// descriptor, I/O error) is thrown, where FileHandle.readDataToEndOfFile() would abort.
    static func read(_ fd: Int32, name: String, limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try stream(fd, name: name) { chunk, _ in
            guard out.count + chunk.count <= limit else { throw DocumentError.tooLarge(path: name, limit: limit) }
            out += chunk
        }
        return out
    }

    /// Hands a stream to `body` in chunks as read(2) returns them, then an empty final one.
    static func stream(_ fd: Int32, name: String, _ body: (UnsafeBufferPointer<UInt8>, _ final: Bool) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DocumentError.unreadable(path: name, reason: String(cString: strerror(errno)))
            }
            try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0 ..< n]), n == 0) }
            if n == 0 { return }
        }
    }

    struct LineError: Error { var message: String }

    /// The reason given for a JSONL line without the reader's `field` (a `BadLine` or
    /// `DocumentError.malformedLine` reason), so a front end can recognise it and name its option.
    public static func missingFieldReason(_ field: String) -> String { "no field '\(field)'" }

    static func text(of line: UnsafeBufferPointer<UInt8>, field: String) throws -> String {
        // Text that is not UTF-8 (or a lone surrogate escape) is a bad line, never U+FFFD scored as text.
        guard String(validating: line, as: UTF8.self) != nil else { throw LineError(message: "not valid UTF-8") }
        let value: JSONValue
        do { value = try JSONParser.parse(line, options: .documents) } catch let error as JSONParseError {
            if line.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw LineError(message: "starts with a UTF-8 byte-order mark (EF BB BF), which JSON Lines does not allow; save the file as UTF-8 without a BOM")
            }
            throw LineError(message: "not valid JSON at byte \(error.offset + 1) of the line: \(error.message)")
        }
        guard case .object = value else { throw LineError(message: "not a JSON object") }
        switch value[field] {
        case .string(let text)?: return text
        case nil: throw LineError(message: missingFieldReason(field))
        case .some(let other): throw LineError(message: "field '\(field)' is \(other.typeName), not a string")
        }
    }
}

/// Splits JSONL bytes, handed over in pieces of any size, into lines and turns each into a
/// document or a bad line. A line longer than the limit is not kept: its bytes are passed over to
/// its newline and it becomes a bad line.
struct JSONLines {
    let reader: DocumentReader
    let input: DocumentInput
    /// The next document's number, and where the next line starts in the run's input bytes.
    private(set) var ordinal: Int
    private(set) var offset: Int
    private var pending: [UInt8] = []
    private var lineNumber = 0
    /// Bytes of the current line passed over because it is too long (0: not passing over).
    private var overlong = 0

    init(reader: DocumentReader, input: DocumentInput, ordinal: Int, offset: Int) {
        self.reader = reader
        self.input = input
        self.ordinal = ordinal
        self.offset = offset
    }

    typealias Body = (DocumentReader.Event) throws -> Void

    /// Takes the next bytes of the input; `final` once no more follow (a last line needs no newline).
    mutating func take(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, _ body: Body) throws {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                try keep(UnsafeBufferPointer(rebasing: bytes[start...]), body)
                break
            }
            let piece = UnsafeBufferPointer(rebasing: bytes[start ..< newline])
            if pending.isEmpty, overlong == 0 {
                try line(piece, length: piece.count + 1, body)   // straight from the input, no copy
            } else {
                try keep(piece, body)
                try finishPending(newlineLength: 1, body)
            }
            start = newline + 1
        }
        if final, !pending.isEmpty || overlong > 0 { try finishPending(newlineLength: 0, body) }
    }

    /// Holds part of a line whose newline has not come yet. A line that outgrows the limit is
    /// reported at once (an endless stream with no newline ends here), then passed over to its newline.
    private mutating func keep(_ piece: UnsafeBufferPointer<UInt8>, _ body: Body) throws {
        if overlong > 0 { overlong += piece.count; return }
        guard pending.count + piece.count <= reader.maxDocumentBytes else {
            overlong = pending.count + piece.count
            pending = []
            lineNumber += 1
            try report(tooLong, body)
            return
        }
        pending += piece
    }

    private mutating func finishPending(newlineLength: Int, _ body: Body) throws {
        if overlong > 0 {
            offset += overlong + newlineLength
            overlong = 0
            return
        }
        let held = pending
        pending = []
        try held.withUnsafeBufferPointer { try line($0, length: $0.count + newlineLength, body) }
    }

    private var tooLong: String { "longer than \(reader.maxDocumentBytes) bytes, the most one document may hold" }

    /// One line (without its newline); `length` is what it took of the input, newline included.
    private mutating func line(_ raw: UnsafeBufferPointer<UInt8>, length: Int, _ body: Body) throws {
        lineNumber += 1
        if raw.count > reader.maxDocumentBytes {
            offset += length
            try report(tooLong, body)
            return
        }
        var content = raw
        if let last = content.last, last == 0x0D { content = UnsafeBufferPointer(rebasing: content.dropLast()) }
        let range = offset ..< offset + length
        offset += length
        if content.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        do {
            let text = try DocumentReader.text(of: content, field: reader.field)
            try body(.document(Document(ordinal: ordinal, name: "\(input.displayName):\(lineNumber)", bytes: Array(text.utf8), inputRange: range)))
            ordinal += 1
        } catch let reason as DocumentReader.LineError {
            try report(reason.message, body)
        }
    }

    /// A bad line: an error, or (when skipping) reported and counted as a document number.
    private mutating func report(_ reason: String, _ body: Body) throws {
        defer { ordinal += 1 }
        guard reader.skipBadLines else {
            throw DocumentError.malformedLine(file: input.displayName, line: lineNumber, reason: reason)
        }
        try body(.badLine(BadLine(ordinal: ordinal, file: input.displayName, line: lineNumber, reason: reason)))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSONSupport

/// One `.safetensors` file, memory-mapped read-only. The data section is never read with
/// `read()`: tensors are zero-copy views into the mapping, and pages are loaded on first touch.
/// All header validation happens in `init`, so a file that opens is consistent: every tensor
/// lies inside the data section, its byte span matches shape × dtype, and no two overlap.
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest header accepted (100 MB, the limit of the reference Rust implementation).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// The header's `__metadata__` map (empty if absent).
    public let metadata: [String: String]
    /// All tensors, ordered by data offset (then by name).
    public let tensorInfos: [TensorInfo]
    /// Size of the header JSON in bytes (the 8-byte length prefix excluded).
    public let headerLength: Int
    /// Byte offset of the data section inside the file (`8 + headerLength`).
    public var dataStart: Int { 8 + headerLength }
    /// Size of the whole file in bytes.
    public var fileSize: Int { mapping.size }

    let mapping: MappedFile
    private let byName: [String: Int]

    public init(path: String) throws {
        self.path = path
        let mapping = try MappedFile(safetensorsPath: path)
        self.mapping = mapping
        let parsed = try SafetensorsFile.parseHeader(mapping.bytes, path: path)
        self.headerLength = parsed.headerLength
        self.metadata = parsed.metadata
        self.tensorInfos = parsed.infos
        var byName: [String: Int] = [:]
        byName.reserveCapacity(parsed.infos.count)
        for (i, info) in parsed.infos.enumerated() { byName[info.name] = i }
        self.byName = byName
    }

    /// Tensor names in data-offset order.
    public var names: [String] { tensorInfos.map(\.name) }

    public func info(_ name: String) -> TensorInfo? {
        byName[name].map { tensorInfos[$0] }
    }

    /// A zero-copy view of tensor `name`; throws `.tensorNotFound` (with close names) otherwise.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = byName[name] else {
            throw SafetensorsError.tensorNotFound(path: path, tensor: name, suggestions: closeNames(to: name, in: tensorInfos.map(\.name)))
        }
        return tensor(info: tensorInfos[i])
    }

    func tensor(info: TensorInfo) -> Tensor {
        let start = mapping.bytes.baseAddress! + dataStart + info.dataOffsets.lowerBound
        return Tensor(info: info, bytes: UnsafeRawBufferPointer(start: start, count: info.dataOffsets.count), owner: mapping, path: path)
    }

    // MARK: Header parsing

    struct ParsedHeader {
        var headerLength: Int
        var metadata: [String: String]
        var infos: [TensorInfo]
    }

    static func parseHeader(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        let fileSize = file.count
        if fileSize < 8 { throw SafetensorsError.fileTooSmall(path: path, size: fileSize) }
        let n64 = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        if n64 > UInt64(SafetensorsFile.maxHeaderBytes) {
            throw SafetensorsError.headerTooLarge(path: path, headerLength: n64, limit: SafetensorsFile.maxHeaderBytes)
        }
        let n = Int(n64)
        if n > fileSize - 8 { throw SafetensorsError.headerPastEndOfFile(path: path, headerLength: n64, fileSize: fileSize) }
        let headerBytes = UnsafeBufferPointer<UInt8>(start: file.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, count: n)
        // Validate UTF-8 of the whole header once; the JSON parser then decodes without checks.
        var utf8Decoder = UTF8()
        var it = headerBytes.makeIterator()
        decodeLoop: while true {
            switch utf8Decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: break decodeLoop
            case .error: throw SafetensorsError.headerNotUTF8(path: path)
            }
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch let e as JSONParseError {
            throw SafetensorsError.headerNotJSON(path: path, reason: e.description)
        }
        guard case let .object(members) = json else {
            throw SafetensorsError.invalidHeader(path: path, reason: "the header is \(json.typeName), not a JSON object")
        }
        let dataSize = fileSize - 8 - n
        var metadata: [String: String] = [:]
        var sawMetadata = false
        var infos: [TensorInfo] = []
        infos.reserveCapacity(members.count)
        var seen = Set<String>()
        seen.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                if sawMetadata { throw SafetensorsError.invalidHeader(path: path, reason: "__metadata__ appears twice") }
                sawMetadata = true
                guard case let .object(kv) = value else {
                    throw SafetensorsError.invalidHeader(path: path, reason: "__metadata__ is \(value.typeName), not an object of strings")
                }
                for (k, v) in kv {
                    guard case let .string(s) = v else {
                        throw SafetensorsError.invalidHeader(path: path, reason: "__metadata__ value for '\(k)' is \(v.typeName), not a string")
                    }
                    if metadata[k] != nil { throw SafetensorsError.invalidHeader(path: path, reason: "__metadata__ key '\(k)' appears twice") }
                    metadata[k] = s
                }
                continue
            }
            if !seen.insert(name).inserted {
                throw SafetensorsError.invalidHeader(path: path, reason: "tensor '\(name)' appears twice")
            }
            infos.append(try parseEntry(name: name, value: value, dataSize: dataSize, path: path))
        }
        infos.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        // Overlap check: empty tensors occupy no bytes and never overlap.
        var last: TensorInfo? = nil
        for info in infos where !info.dataOffsets.isEmpty {
            if let l = last, info.dataOffsets.lowerBound < l.dataOffsets.upperBound {
                throw SafetensorsError.overlappingTensors(path: path, tensor: l.name, other: info.name)
            }
            last = info
        }
        return ParsedHeader(headerLength: n, metadata: metadata, infos: infos)
    }

    static func parseEntry(name: String, value: JSONValue, dataSize: Int, path: String) throws -> TensorInfo {
        func bad(_ r: String) -> SafetensorsError { .invalidTensorEntry(path: path, tensor: name, reason: r) }
        guard case let .object(fields) = value else { throw bad("the entry is \(value.typeName), not an object") }
        var dtypeV: JSONValue?, shapeV: JSONValue?, offsetsV: JSONValue?
        for (k, v) in fields {
            switch k {
            case "dtype": if dtypeV != nil { throw bad("'dtype' appears twice") }; dtypeV = v
            case "shape": if shapeV != nil { throw bad("'shape' appears twice") }; shapeV = v
            case "data_offsets": if offsetsV != nil { throw bad("'data_offsets' appears twice") }; offsetsV = v
            default: continue // unknown fields are ignored, as by the reference implementation
            }
        }
        guard let dtypeV else { throw bad("missing 'dtype'") }
        guard let shapeV else { throw bad("missing 'shape'") }
        guard let offsetsV else { throw bad("missing 'data_offsets'") }
        guard case let .string(dtypeS) = dtypeV else { throw bad("'dtype' is \(dtypeV.typeName), not a string") }
        guard case let .array(shapeA) = shapeV else { throw bad("'shape' is \(shapeV.typeName), not an array") }
        guard case let .array(offA) = offsetsV else { throw bad("'data_offsets' is \(offsetsV.typeName), not an array") }
        guard let dtype = DType(rawValue: dtypeS) else {
            throw SafetensorsError.unknownDType(path: path, tensor: name, dtype: dtypeS)
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeA.count)
        for (i, d) in shapeA.enumerated() {
            guard case let .number(number) = d else {
                throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "entry \(i) is \(d.typeName), not an integer")
            }
            guard let v = number.int else {
                throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "entry \(i) (\(number.text)) is not an integer that fits in 64 bits")
            }
            guard v >= 0 else {
                throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "entry \(i) (\(v)) is negative")
            }
            shape.append(v)
        }
        guard let counts = checkedByteCount(shape: shape, byteSize: dtype.byteSize) else {
            throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "element count of \(shape) overflows")
        }
        guard offA.count == 2 else { throw bad("'data_offsets' has \(offA.count) entries, not 2") }
        var off = [0, 0]
        for i in 0..<2 {
            guard case let .number(number) = offA[i] else { throw bad("'data_offsets'[\(i)] is \(offA[i].typeName), not an integer") }
            guard let v = number.int, v >= 0 else { throw bad("'data_offsets'[\(i)] (\(number.text)) is not a non-negative 64-bit integer") }
            off[i] = v
        }
        let (begin, end) = (off[0], off[1])
        if begin > end { throw SafetensorsError.offsetsReversed(path: path, tensor: name, begin: begin, end: end) }
        if end > dataSize {
            throw SafetensorsError.offsetsOutOfBounds(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        if counts.bytes != end - begin {
            throw SafetensorsError.byteCountMismatch(path: path, tensor: name, expected: counts.bytes, actual: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}

extension MappedFile {
    /// Maps `path`, with the safetensors error for a file that cannot be.
    convenience init(safetensorsPath path: String) throws {
        do { try self.init(path: path) } catch let error as OpenError {
            switch error {
            case .cannotOpen(let e) where e == ENOENT || e == ENOTDIR: throw SafetensorsError.fileNotFound(path: path)
            case .cannotOpen(let e): throw SafetensorsError.cannotOpen(path: path, errno: e)
            case .isDirectory: throw SafetensorsError.isDirectory(path: path)
            case .notRegularFile: throw SafetensorsError.notRegularFile(path: path)
            case .mapFailed(let e): throw SafetensorsError.mapFailed(path: path, errno: e)
            }
        }
    }
}

// MARK: - Name suggestions

/// Up to 3 names close to `name`: same name ignoring case, names that contain it or that it
/// contains, then small edit distance. Only runs on the error path.
func closeNames(to name: String, in names: [String]) -> [String] {
    let lower = name.lowercased()
    var scored: [(Int, String)] = []
    let a = Array(lower.utf8)
    for cand in names {
        let cl = cand.lowercased()
        if cl == lower { scored.append((0, cand)); continue }
        let b = Array(cl.utf8)
        let limit = max(2, a.count / 4)
        if abs(a.count - b.count) <= limit {
            let d = editDistance(a, b, limit: limit)
            if d <= limit { scored.append((d, cand)); continue }
        }
        if !lower.isEmpty && (cl.hasSuffix(lower) || lower.hasSuffix(cl)) { scored.append((limit + 1, cand)) }
    }
    scored.sort { ($0.0, $0.1) < ($1.0, $1.1) }
    return Array(scored.prefix(3).map(\.1))
}

/// Levenshtein distance, giving up (returning limit+1) once every entry of a row exceeds `limit`.
func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        var rowMin = cur[0]
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            rowMin = min(rowMin, cur[j])
        }
        if rowMin > limit { return limit + 1 }
        swap(&prev, &cur)
    }
    return prev[b.count]
}

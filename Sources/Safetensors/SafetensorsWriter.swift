#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSONSupport

/// What the writer needs to know about one tensor before any data is written.
public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
    /// Bytes of data (elements × dtype size); only meaningful for a valid spec.
    public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
}

/// Buffered output to one open file descriptor.
final class FileOutput {
    let path: String
    let fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private let capacity = 1 << 20
    private var used = 0

    init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, let src = bytes.baseAddress else { return }
        if used + bytes.count <= capacity {
            (buffer + used).copyMemory(from: src, byteCount: bytes.count)
            used += bytes.count
            return
        }
        try flush()
        if bytes.count >= capacity {
            try writeAll(src, bytes.count)
        } else {
            buffer.copyMemory(from: src, byteCount: bytes.count)
            used = bytes.count
        }
    }

    func flush() throws {
        if used > 0 { try writeAll(UnsafeRawPointer(buffer), used) }
        used = 0
    }

    private func writeAll(_ p: UnsafeRawPointer, _ n: Int) throws {
        if let failure = writeFully(fd, UnsafeRawBufferPointer(start: p, count: n)) {
            throw SafetensorsError.writeFailed(path: path, reason: "write: \(errnoText(failure))")
        }
    }
}

/// Byte budget of the tensor being produced; shared by the sink handed to the producer.
final class SinkState {
    let output: FileOutput
    var tensorName = ""
    var expected = 0
    var written = 0
    var active = false
    var generation = 0
    init(output: FileOutput) { self.output = output }
}

/// Where a producer writes a tensor's bytes. May be called several times per tensor; writing
/// more bytes than the tensor has, or writing after the producer returned, throws.
public struct TensorSink {
    let state: SinkState
    let token: Int

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        let s = state
        guard s.active, s.generation == token else {
            throw SafetensorsError.writeFailed(path: s.output.path, reason: "a TensorSink was used after its producer returned")
        }
        if bytes.count > s.expected - s.written {
            throw SafetensorsError.producerByteCountMismatch(path: s.output.path, tensor: s.tensorName, expected: s.expected, written: s.written + bytes.count)
        }
        try s.output.write(bytes)
        s.written += bytes.count
    }

    /// Convenience: writes the bytes of an array of trivial values (e.g. `[Float]`, `[UInt16]`).
    public func write<T>(contentsOf values: [T]) throws {
        try values.withUnsafeBytes { try write($0) }
    }
}

/// Streaming safetensors writer.
public enum SafetensorsWriter {
    /// Streams one file: the header (all specs known up front, offsets computed, header padded
    /// with spaces to a multiple of 8 like the Python writer), then `produce(i, sink)` for each
    /// tensor in order, which must write exactly that tensor's byte count.
    ///
    /// Writes to a temporary file next to `path` and renames it into place only on success; on
    /// any error (or a throwing producer) the temporary file is removed and `path` is untouched.
    public static func write(path: String, tensors: [TensorSpec], metadata: [String: String] = [:],
                             produce: (Int, TensorSink) throws -> Void) throws {
        let header = try headerBytes(path: path, tensors: tensors, metadata: metadata)
        let tmp = try writeTemporary(finalPath: path, header: header, tensors: tensors, indices: Array(tensors.indices), produce: produce)
        do {
            try renameIntoPlace(tmp, path)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Same as `write(path:tensors:metadata:produce:)`, split into shards of at most
    /// `maxShardBytes` data bytes each (a bigger tensor gets a shard of its own), keeping the
    /// given tensor order. One shard ⇒ `model.safetensors` (and a stale
    /// `model.safetensors.index.json` in `directory` is removed, since readers prefer the index);
    /// several ⇒ `model-00001-of-0000N.safetensors` … plus `model.safetensors.index.json`
    /// (`{"metadata": {"total_size": N}, "weight_map": {name: file}}`), like Hugging Face.
    /// `metadata` goes into every shard's header. `directory` must exist. All shards are written
    /// to temporary files first and renamed only when every one succeeded. Returns the file
    /// names written (shards, then the index if any).
    @discardableResult
    public static func writeSharded(directory: String, tensors: [TensorSpec], metadata: [String: String] = [:], maxShardBytes: Int,
                                    produce: (Int, TensorSink) throws -> Void) throws -> [String] {
        var st = stat()
        guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SafetensorsError.writeFailed(path: directory, reason: "not an existing directory")
        }
        guard maxShardBytes > 0 else {
            throw SafetensorsError.writeFailed(path: directory, reason: "maxShardBytes must be positive, got \(maxShardBytes)")
        }
        let dirPath = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        // Validate all specs up front (names unique etc.).
        _ = try headerBytes(path: dirPath + "/model.safetensors", tensors: tensors, metadata: metadata)
        var groups: [[Int]] = []
        var current: [Int] = []
        var currentBytes = 0
        for (i, t) in tensors.enumerated() {
            let b = t.byteCount
            if !current.isEmpty && currentBytes + b > maxShardBytes {
                groups.append(current)
                current = []
                currentBytes = 0
            }
            current.append(i)
            currentBytes += b
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }

        let n = groups.count
        let names: [String] = n == 1 ? ["model.safetensors"] : (1...n).map { "model-\(pad5($0))-of-\(pad5(n)).safetensors" }
        var temps: [String] = []
        do {
            for (g, idx) in groups.enumerated() {
                let finalPath = dirPath + "/" + names[g]
                let specs = idx.map { tensors[$0] }
                let header = try headerBytes(path: finalPath, tensors: specs, metadata: metadata)
                temps.append(try writeTemporary(finalPath: finalPath, header: header, tensors: specs, indices: idx, produce: produce))
            }
            var indexTemp: String? = nil
            let indexPath = dirPath + "/model.safetensors.index.json"
            if n > 1 {
                let total = tensors.reduce(0) { $0 + $1.byteCount }
                var weightMap: [(String, String)] = []
                for (g, idx) in groups.enumerated() { for i in idx { weightMap.append((tensors[i].name, names[g])) } }
                weightMap.sort { $0.0 < $1.0 }
                var json = "{\n  \"metadata\": {\n    \"total_size\": \(total)\n  },\n  \"weight_map\": {\n"
                json += weightMap.map { "    \(jsonQuoted($0.0)): \(jsonQuoted($0.1))" }.joined(separator: ",\n")
                json += "\n  }\n}\n"
                let bytes = Array(json.utf8)
                indexTemp = try writeTemporary(finalPath: indexPath, header: bytes, tensors: [], indices: [], produce: { _, _ in })
                temps.append(indexTemp!)
            }
            // Everything is on disk: rename shards first, the index last.
            for (g, _) in groups.enumerated() { try renameIntoPlace(temps[g], dirPath + "/" + names[g]) }
            if let indexTemp {
                try renameIntoPlace(indexTemp, indexPath)
            } else if access(indexPath, F_OK) == 0 {
                unlink(indexPath)
            }
            return n > 1 ? names + ["model.safetensors.index.json"] : names
        } catch {
            for t in temps { unlink(t) }
            throw error
        }
    }

    /// Convenience for tests and small files: writes Float values as F32, BF16 (round to nearest
    /// even, like PyTorch), F16 (round to nearest even) or F64.
    public static func write(path: String, floats: [(name: String, shape: [Int], values: [Float])], dtype: DType = .f32,
                             metadata: [String: String] = [:]) throws {
        guard dtype.isFloatingPoint else {
            throw SafetensorsError.writeFailed(path: path, reason: "write(path:floats:dtype:) needs a floating-point dtype, got \(dtype.rawValue)")
        }
        let specs = floats.map { TensorSpec(name: $0.name, dtype: dtype, shape: $0.shape) }
        for (spec, t) in zip(specs, floats) {
            guard let c = checkedByteCount(shape: spec.shape, byteSize: dtype.byteSize) else {
                throw SafetensorsError.invalidTensorSpec(path: path, tensor: spec.name, reason: "shape \(spec.shape) has a negative dimension or overflows")
            }
            if c.elements != t.values.count {
                throw SafetensorsError.valueCountMismatch(path: path, tensor: spec.name, expected: c.elements, actual: t.values.count)
            }
        }
        try write(path: path, tensors: specs, metadata: metadata) { i, sink in
            let v = floats[i].values
            switch dtype {
            case .f32: try sink.write(contentsOf: v)
            case .bf16: try sink.write(contentsOf: v.map { floatToBF16Bits($0).littleEndian })
            case .f16: try sink.write(contentsOf: v.map { floatToF16Bits($0).littleEndian })
            case .f64: try sink.write(contentsOf: v.map { Double($0) })
            default: break
            }
        }
    }

    // MARK: Internals

    static func pad5(_ i: Int) -> String {
        let s = String(i)
        return s.count >= 5 ? s : String(repeating: "0", count: 5 - s.count) + s
    }

    /// The 8-byte length prefix plus the header JSON, padded with spaces so the data section
    /// starts at a multiple of 8. Validates the specs.
    static func headerBytes(path: String, tensors: [TensorSpec], metadata: [String: String]) throws -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var seen = Set<String>()
        var offset = 0
        for t in tensors {
            if t.name.isEmpty { throw SafetensorsError.invalidTensorSpec(path: path, tensor: t.name, reason: "empty name") }
            if t.name == "__metadata__" { throw SafetensorsError.invalidTensorSpec(path: path, tensor: t.name, reason: "'__metadata__' is reserved") }
            if !seen.insert(t.name).inserted { throw SafetensorsError.duplicateTensorName(path: path, tensor: t.name) }
            guard let c = checkedByteCount(shape: t.shape, byteSize: t.dtype.byteSize) else {
                throw SafetensorsError.invalidTensorSpec(path: path, tensor: t.name, reason: "shape \(t.shape) has a negative dimension or overflows")
            }
            let (end, o) = offset.addingReportingOverflow(c.bytes)
            if o { throw SafetensorsError.invalidTensorSpec(path: path, tensor: t.name, reason: "total data size overflows") }
            if !first { json += "," }
            first = false
            json += "\(jsonQuoted(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var h = Array(json.utf8)
        while (8 + h.count) % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        return out
    }

    /// Writes `prefix` (or `header`) and the tensors' data into a fresh temporary file in the
    /// directory of `finalPath`; returns its path. Removes it on any error.
    static func writeTemporary(finalPath: String, header: [UInt8], tensors: [TensorSpec], indices: [Int],
                               produce: (Int, TensorSink) throws -> Void) throws -> String {
        let dirPrefix: String // directory including the trailing slash, or "" for the current directory
        let base: String
        if let slash = finalPath.lastIndex(of: "/") {
            dirPrefix = String(finalPath[...slash])
            base = String(finalPath[finalPath.index(after: slash)...])
        } else {
            dirPrefix = ""
            base = finalPath
        }
        var fd: Int32 = -1
        var tmp = ""
        for _ in 0..<16 {
            let name = ".\(base).tmp-\(getpid())-\(String(UInt32.random(in: 0..<UInt32.max), radix: 16))"
            tmp = dirPrefix + name
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        if fd < 0 { throw SafetensorsError.writeFailed(path: finalPath, reason: "cannot create temporary file \(tmp): \(errnoText(errno))") }
        var closed = false
        do {
            let out = FileOutput(path: finalPath, fd: fd)
            try header.withUnsafeBytes { try out.write($0) }
            let state = SinkState(output: out)
            for (k, spec) in tensors.enumerated() {
                state.generation += 1
                state.tensorName = spec.name
                state.expected = spec.byteCount
                state.written = 0
                state.active = true
                let sink = TensorSink(state: state, token: state.generation)
                defer { state.active = false }
                try produce(indices[k], sink)
                if state.written != state.expected {
                    throw SafetensorsError.producerByteCountMismatch(path: finalPath, tensor: spec.name, expected: state.expected, written: state.written)
                }
            }
            try out.flush()
            if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
                throw SafetensorsError.writeFailed(path: finalPath, reason: "fsync: \(errnoText(errno))")
            }
            closed = true
            if close(fd) != 0 { throw SafetensorsError.writeFailed(path: finalPath, reason: "close: \(errnoText(errno))") }
        } catch {
            if !closed { close(fd) }
            unlink(tmp)
            throw error
        }
        return tmp
    }

    static func renameIntoPlace(_ tmp: String, _ path: String) throws {
        if rename(tmp, path) != 0 {
            throw SafetensorsError.writeFailed(path: path, reason: "rename from \(tmp): \(errnoText(errno))")
        }
    }
}

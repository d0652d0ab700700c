#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSONSupport

/// A whole checkpoint: a `.safetensors` file, a `model.safetensors.index.json`, or a directory
/// holding `model.safetensors.index.json` (preferred), `model.safetensors`, or exactly one
/// `*.safetensors` file. All shards are opened (memory-mapped) and validated in `init`, and
/// every tensor the index lists is checked to exist in its shard.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    /// The path given to `init`.
    public let path: String
    /// The index file, if the checkpoint is sharded.
    public let indexPath: String?
    /// All tensor names, sorted.
    public let names: [String]
    /// The index's "metadata" (values rendered as strings) merged with the first shard's
    /// `__metadata__`; the index wins where both have a key.
    public let metadata: [String: String]
    /// The opened files (shards sorted by file name).
    public let files: [SafetensorsFile]
    private let location: [String: Int] // name → index into files

    public init(path: String) throws {
        self.path = path
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw SafetensorsError.fileNotFound(path: path) }
            throw SafetensorsError.cannotOpen(path: path, errno: e)
        }
        var target = path
        if (st.st_mode & S_IFMT) == S_IFDIR {
            target = try SafetensorsCheckpoint.resolveDirectory(path)
        }
        if target.hasSuffix(".json") {
            let r = try SafetensorsCheckpoint.loadIndex(target)
            self.indexPath = target
            self.files = r.files
            self.location = r.location
            var md = r.files.first?.metadata ?? [:]
            for (k, v) in r.indexMetadata { md[k] = v }
            self.metadata = md
            self.names = r.location.keys.sorted()
        } else {
            let f = try SafetensorsFile(path: target)
            self.indexPath = nil
            self.files = [f]
            var loc: [String: Int] = [:]
            for i in f.tensorInfos { loc[i.name] = 0 }
            self.location = loc
            self.metadata = f.metadata
            self.names = loc.keys.sorted()
        }
    }

    public func info(_ name: String) -> TensorInfo? {
        guard let i = location[name] else { return nil }
        return files[i].info(name)
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let i = location[name] else {
            throw SafetensorsError.tensorNotFound(path: indexPath ?? files.first?.path ?? path, tensor: name, suggestions: closeNames(to: name, in: names))
        }
        return try files[i].tensor(name)
    }

    /// The file holding tensor `name`.
    public func file(for name: String) -> SafetensorsFile? {
        location[name].map { files[$0] }
    }

    /// Throws `fileShrank` when a file was truncated after it was mapped, before anything reads
    /// it: reading a mapped page past a file's end raises SIGBUS, which would end the process.
    public func checkFilesUnchanged() throws {
        for file in files {
            if let now = file.mapping.currentSize(), now < file.mapping.size {
                throw SafetensorsError.fileShrank(path: file.path, mappedBytes: file.mapping.size, currentBytes: now)
            }
        }
    }

    // MARK: Resolution

    static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    static func isRegularFile(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    static func resolveDirectory(_ dir: String) throws -> String {
        for name in ["model.safetensors.index.json", "model.safetensors"] {
            if let file = try usableEntry(join(dir, name)) { return file }
        }
        guard let d = opendir(dir) else { throw SafetensorsError.cannotOpen(path: dir, errno: errno) }
        defer { closedir(d) }
        var found: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasSuffix(".safetensors") && !name.hasPrefix(".") && isRegularFile(join(dir, name)) { found.append(name) }
        }
        found.sort()
        if found.isEmpty { throw SafetensorsError.noCheckpointInDirectory(path: dir) }
        if found.count > 1 { throw SafetensorsError.ambiguousCheckpointDirectory(path: dir, candidates: found) }
        return join(dir, found[0])
    }

    /// `path` when it is a regular file (links followed), nil when nothing has that name; what is
    /// there otherwise, as an error (a directory, a FIFO, a link loop, a link to nothing).
    static func usableEntry(_ path: String) throws -> String? {
        var link = stat()
        guard lstat(path, &link) == 0 else { return nil }
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            if e == ENOENT, (link.st_mode & S_IFMT) == S_IFLNK {
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &target, Int(PATH_MAX))
                throw SafetensorsError.danglingLink(path: path, target: n > 0 ? String(cString: Array(target[0..<n]) + [0]) : "?")
            }
            throw SafetensorsError.cannotOpen(path: path, errno: e)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return path
        case S_IFDIR: throw SafetensorsError.isDirectory(path: path)
        default: throw SafetensorsError.notRegularFile(path: path)
        }
    }

    struct LoadedIndex {
        var files: [SafetensorsFile]
        var location: [String: Int]
        var indexMetadata: [String: String]
    }

    static func loadIndex(_ indexPath: String) throws -> LoadedIndex {
        let mapping = try MappedFile(safetensorsPath: indexPath)
        if mapping.size < 8 { throw SafetensorsError.invalidIndex(path: indexPath, reason: "file is too small to be an index") }
        let buf = mapping.bytes.assumingMemoryBound(to: UInt8.self)
        if mapping.size > SafetensorsFile.maxHeaderBytes {
            throw SafetensorsError.invalidIndex(path: indexPath, reason: "index is larger than \(SafetensorsFile.maxHeaderBytes) bytes")
        }
        var dec = UTF8()
        var it = buf.makeIterator()
        loop: while true {
            switch dec.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: throw SafetensorsError.invalidIndex(path: indexPath, reason: "not valid UTF-8")
            }
        }
        let json: JSONValue
        do { json = try JSONParser.parse(buf) } catch let e as JSONParseError {
            throw SafetensorsError.invalidIndex(path: indexPath, reason: "not valid JSON (\(e.description))")
        }
        guard case let .object(top) = json else {
            throw SafetensorsError.invalidIndex(path: indexPath, reason: "top level is \(json.typeName), not an object")
        }
        var weightMap: [(String, JSONValue)]? = nil
        var meta: [String: String] = [:]
        for (k, v) in top {
            if k == "weight_map" {
                guard case let .object(wm) = v else {
                    throw SafetensorsError.invalidIndex(path: indexPath, reason: "'weight_map' is \(v.typeName), not an object")
                }
                weightMap = wm
            } else if k == "metadata" {
                switch v {
                case .null: break
                case let .object(kv):
                    for (mk, mv) in kv {
                        switch mv {
                        case let .string(s): meta[mk] = s
                        case let .number(number): meta[mk] = number.text
                        case let .bool(b): meta[mk] = b ? "true" : "false"
                        default: break // nested values are not representable as strings; skipped
                        }
                    }
                default:
                    throw SafetensorsError.invalidIndex(path: indexPath, reason: "'metadata' is \(v.typeName), not an object")
                }
            }
        }
        guard let weightMap else { throw SafetensorsError.invalidIndex(path: indexPath, reason: "no 'weight_map' object") }
        let dir: String = {
            if let slash = indexPath.lastIndex(of: "/") { return String(indexPath[..<slash]).isEmpty ? "/" : String(indexPath[..<slash]) }
            return "."
        }()
        // Validate the map, then open shards in file-name order (so files[0] is shard 00001).
        var entries: [(tensor: String, shard: String)] = []
        entries.reserveCapacity(weightMap.count)
        var seenTensors = Set<String>()
        for (tensor, v) in weightMap {
            guard case let .string(shard) = v else {
                throw SafetensorsError.invalidIndex(path: indexPath, reason: "weight_map entry for '\(tensor)' is \(v.typeName), not a file name")
            }
            if shard.isEmpty || shard.hasPrefix("/") || shard.split(separator: "/").contains("..") {
                throw SafetensorsError.invalidIndex(path: indexPath, reason: "weight_map entry for '\(tensor)' has an invalid shard name '\(shard)' (must be relative, inside the index's directory)")
            }
            if !seenTensors.insert(tensor).inserted {
                throw SafetensorsError.invalidIndex(path: indexPath, reason: "tensor '\(tensor)' appears twice in weight_map")
            }
            entries.append((tensor, shard))
        }
        let shardNames = Set(entries.map(\.shard)).sorted()
        var shardIndex: [String: Int] = [:]
        var files: [SafetensorsFile] = []
        for shard in shardNames {
            let shardPath = join(dir, shard)
            do {
                files.append(try SafetensorsFile(path: shardPath))
            } catch SafetensorsError.fileNotFound {
                throw SafetensorsError.missingShard(indexPath: indexPath, shard: shard)
            }
            shardIndex[shard] = files.count - 1
        }
        var location: [String: Int] = [:]
        location.reserveCapacity(entries.count)
        for (tensor, shard) in entries {
            let fi = shardIndex[shard]!
            guard files[fi].info(tensor) != nil else {
                throw SafetensorsError.tensorMissingFromShard(indexPath: indexPath, shardPath: files[fi].path, tensor: tensor)
            }
            location[tensor] = fi
        }
        return LoadedIndex(files: files, location: location, indexMetadata: meta)
    }
}

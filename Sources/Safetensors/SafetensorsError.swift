#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every error this module throws. Each message names the file (and the tensor, where there is
/// one) and says what to do about it. Content problems are always reported through these cases,
/// never by a crash.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    // MARK: Opening files and checkpoints
    /// Nothing exists at `path`.
    case fileNotFound(path: String)
    /// `open`/`stat` failed for another reason (permissions, ...). `errno` is the C error number.
    case cannotOpen(path: String, errno: Int32)
    /// A FIFO, device or socket where a .safetensors file was expected.
    case notRegularFile(path: String)
    /// A symbolic link to nothing (a Hugging Face cache snapshot whose blob is missing).
    case danglingLink(path: String, target: String)
    /// `SafetensorsFile(path:)` was given a directory (use `SafetensorsCheckpoint` for directories).
    case isDirectory(path: String)
    /// `mmap` failed.
    case mapFailed(path: String, errno: Int32)
    /// A directory holds neither `model.safetensors.index.json`, `model.safetensors`, nor any `*.safetensors` file.
    case noCheckpointInDirectory(path: String)
    /// A directory holds several `*.safetensors` files but no index and no `model.safetensors`.
    case ambiguousCheckpointDirectory(path: String, candidates: [String])

    // MARK: Header
    /// The file is shorter than the 8-byte header length prefix.
    case fileTooSmall(path: String, size: Int)
    /// The header length prefix is larger than the 100 MB limit (the file is probably not safetensors).
    case headerTooLarge(path: String, headerLength: UInt64, limit: Int)
    /// The header length prefix points past the end of the file (the file is probably truncated).
    case headerPastEndOfFile(path: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(path: String)
    /// The header is not valid JSON; `reason` says where.
    case headerNotJSON(path: String, reason: String)
    /// The header is JSON of the wrong structure (not an object, `__metadata__` not a string map, duplicate names).
    case invalidHeader(path: String, reason: String)
    /// A tensor entry misses `dtype`, `shape` or `data_offsets`, or one of them has the wrong JSON type.
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    /// A tensor's dtype is not one of `DType`.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A shape entry is negative or not an integer, or the element count overflows.
    case invalidShape(path: String, tensor: String, reason: String)
    /// element count × dtype size differs from the byte span `data_offsets` gives.
    case byteCountMismatch(path: String, tensor: String, expected: Int, actual: Int)
    /// `data_offsets` has begin > end.
    case offsetsReversed(path: String, tensor: String, begin: Int, end: Int)
    /// `data_offsets` reaches past the end of the data section.
    case offsetsOutOfBounds(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors share bytes of the data section.
    case overlappingTensors(path: String, tensor: String, other: String)

    // MARK: Checkpoints
    /// `model.safetensors.index.json` is not valid (bad JSON, no `weight_map`, non-string file names, ...).
    case invalidIndex(path: String, reason: String)
    /// The index names a shard file that does not exist.
    case missingShard(indexPath: String, shard: String)
    /// The index maps `tensor` to `shardPath`, but that shard does not contain it.
    case tensorMissingFromShard(indexPath: String, shardPath: String, tensor: String)
    /// No tensor with that name; `suggestions` holds close names, if any.
    case tensorNotFound(path: String, tensor: String, suggestions: [String])

    // MARK: Access
    /// The operation does not support the tensor's dtype (e.g. `floats()` on I64).
    case unsupportedDType(path: String, tensor: String, dtype: DType, operation: String)
    /// A row index is outside `0..<rowCount`.
    case rowOutOfRange(path: String, tensor: String, row: Int, rowCount: Int)

    // MARK: Writer
    /// A `TensorSpec` has an empty or reserved name, a negative dimension, or a size that overflows.
    case invalidTensorSpec(path: String, tensor: String, reason: String)
    /// Two specs share a name.
    case duplicateTensorName(path: String, tensor: String)
    /// `write(path:floats:)`: the value count differs from the shape's element count.
    case valueCountMismatch(path: String, tensor: String, expected: Int, actual: Int)
    /// A producer wrote more or fewer bytes than the tensor's byte count.
    case producerByteCountMismatch(path: String, tensor: String, expected: Int, written: Int)
    /// A write, rename or similar system call failed, or an argument is unusable.
    case writeFailed(path: String, reason: String)
    /// A mapped file is now shorter than when it was mapped (truncated or rewritten in place).
    case fileShrank(path: String, mappedBytes: Int, currentBytes: Int)

    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "\(path): no such file or directory. Check the path."
        case let .cannotOpen(path, e):
            let advice = e == ELOOP ? "Fix the symbolic links (they point at each other)." : e == EACCES || e == EPERM ? "Check permissions." : "Check the path and the file system."
            return "\(path): cannot open (\(errnoText(e))). \(advice)"
        case let .danglingLink(path, target):
            return "\(path): a symbolic link to '\(target)', which does not exist. Restore the file it points to (e.g. download the checkpoint again) or fix the link."
        case let .notRegularFile(path):
            return "\(path): not a regular file (a FIFO, device or socket). Pass the .safetensors file itself."
        case let .isDirectory(path):
            return "\(path): is a directory, not a .safetensors file. Use SafetensorsCheckpoint(path:) for a checkpoint directory, or name the file."
        case let .mapFailed(path, e):
            return "\(path): mmap failed (\(errnoText(e))). Check free address space and the file system."
        case let .noCheckpointInDirectory(path):
            return "\(path): directory holds no model.safetensors.index.json, model.safetensors or other *.safetensors file. Point at a checkpoint directory or file."
        case let .ambiguousCheckpointDirectory(path, candidates):
            return "\(path): directory holds several .safetensors files (\(candidates.joined(separator: ", "))) but no model.safetensors.index.json. Name one file, or add an index."
        case let .fileTooSmall(path, size):
            return "\(path): file is \(size) bytes, shorter than the 8-byte safetensors header length. The file is empty or truncated; re-download or re-convert it."
        case let .headerTooLarge(path, n, limit):
            return "\(path): header length \(n) exceeds the \(limit)-byte limit. This is not a safetensors file (or it is corrupt)."
        case let .headerPastEndOfFile(path, n, size):
            return "\(path): header length \(n) reaches past the end of the \(size)-byte file. The file is truncated or not safetensors; re-download or re-convert it."
        case let .headerNotUTF8(path):
            return "\(path): header is not valid UTF-8. The file is corrupt; re-download or re-convert it."
        case let .headerNotJSON(path, reason):
            return "\(path): header is not valid JSON (\(reason)). The file is corrupt; re-download or re-convert it."
        case let .invalidHeader(path, reason):
            return "\(path): invalid safetensors header: \(reason). Re-convert the file with a conforming writer."
        case let .invalidTensorEntry(path, tensor, reason):
            return "\(path): tensor '\(tensor)': invalid header entry: \(reason). Re-convert the file with a conforming writer."
        case let .unknownDType(path, tensor, dtype):
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(path): tensor '\(tensor)': unsupported dtype '\(dtype)' (supported: \(known)). Convert the checkpoint to one of those dtypes."
        case let .invalidShape(path, tensor, reason):
            return "\(path): tensor '\(tensor)': invalid shape: \(reason). The file is corrupt; re-convert it."
        case let .byteCountMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)': shape and dtype need \(expected) bytes but data_offsets span \(actual). The file is corrupt; re-convert it."
        case let .offsetsReversed(path, tensor, b, e):
            return "\(path): tensor '\(tensor)': data_offsets [\(b), \(e)] has begin > end. The file is corrupt; re-convert it."
        case let .offsetsOutOfBounds(path, tensor, b, e, size):
            return "\(path): tensor '\(tensor)': data_offsets [\(b), \(e)] reach past the \(size)-byte data section. The file is truncated or corrupt; re-download or re-convert it."
        case let .overlappingTensors(path, tensor, other):
            return "\(path): tensors '\(tensor)' and '\(other)' overlap in the data section. The file is corrupt; re-convert it."
        case let .invalidIndex(path, reason):
            return "\(path): invalid checkpoint index: \(reason). Fix or regenerate model.safetensors.index.json."
        case let .missingShard(indexPath, shard):
            return "\(indexPath): shard file '\(shard)' named in the index does not exist. Download the missing shard or fix the index."
        case let .tensorMissingFromShard(indexPath, shardPath, tensor):
            return "\(indexPath): the index maps tensor '\(tensor)' to \(shardPath), but that shard does not contain it. Fix or regenerate the index."
        case let .tensorNotFound(path, tensor, suggestions):
            let hint = suggestions.isEmpty ? "" : " Did you mean: \(suggestions.map { "'\($0)'" }.joined(separator: ", "))?"
            return "\(path): no tensor named '\(tensor)'.\(hint) List the names with .names / .tensorInfos."
        case let .unsupportedDType(path, tensor, dtype, operation):
            return "\(path): tensor '\(tensor)': \(operation) does not support dtype \(dtype.rawValue). Use the accessor for that dtype, or convert the checkpoint."
        case let .rowOutOfRange(path, tensor, row, count):
            return "\(path): tensor '\(tensor)': row \(row) is outside 0..<\(count). Check the row index."
        case let .invalidTensorSpec(path, tensor, reason):
            return "\(path): tensor '\(tensor)': invalid tensor spec: \(reason). Fix the spec passed to the writer."
        case let .duplicateTensorName(path, tensor):
            return "\(path): tensor name '\(tensor)' is given twice. Give every tensor a distinct name."
        case let .valueCountMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)': shape needs \(expected) values but \(actual) were given. Fix the shape or the values."
        case let .producerByteCountMismatch(path, tensor, expected, written):
            return "\(path): tensor '\(tensor)': the producer wrote \(written) bytes but the spec needs exactly \(expected). Fix the producer or the spec; nothing was written."
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason). Check the directory, permissions and free disk space."
        case let .fileShrank(path, mappedBytes, currentBytes):
            return "\(path): the file shrank from \(mappedBytes) to \(currentBytes) bytes after it was loaded (truncated or rewritten in place); its weights can no longer be read. Load the model again once the file is complete."
        }
    }
}

func errnoText(_ e: Int32) -> String {
    if let s = strerror(e) { return String(cString: s) + " (errno \(e))" }
    return "errno \(e)"
}

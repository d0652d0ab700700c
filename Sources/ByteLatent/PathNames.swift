/// Path-name arithmetic without Foundation's NSString path methods, which trap on some inputs in
/// this toolchain (`("U/" as NSString).deletingLastPathComponent` is a SIGILL), and user paths
/// reach these functions unfiltered.
public enum PathNames {
    /// The directory and last component of `path`, trailing slashes ignored:
    /// "/a/b/" → ("/a", "b"), "/b" → ("/", "b"), "b" → (".", "b"), "/" → ("/", "").
    public static func split(_ path: String) -> (parent: String, base: String) {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        if p == "/" { return ("/", "") }
        guard let slash = p.lastIndex(of: "/") else { return (".", String(p)) }
        let parent = p[..<slash]
        return (parent.isEmpty ? "/" : String(parent), String(p[p.index(after: slash)...]))
    }

    /// An absolute path with "." and ".." components and repeated slashes removed (lexically).
    public static func normalized(_ absolute: String) -> String {
        var out: [Substring] = []
        for component in absolute.split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = out.popLast(); continue }
            out.append(component)
        }
        return "/" + out.joined(separator: "/")
    }
}

import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// Whole-file reads of small files (configs, indexes). An empty regular file is returned as empty
/// data without asking Foundation, whose read of an empty file leaks a buffer on every call in this
/// toolchain (found by the FuzzConfig and FuzzJSONL harnesses under LeakSanitizer).
public enum FileContents {
    public static func read(_ path: String) -> Data? {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size == 0 { return Data() }
        return FileManager.default.contents(atPath: path)
    }

    /// The whole of a small regular file, or why not in words a user can act on: it does not exist,
    /// permission denied, it is a directory or FIFO, a symbolic-link loop, or larger than `limit`.
    /// A FIFO is refused before it is opened (opening it would wait for a writer).
    public static func readRegularFile(_ path: String, limit: Int) -> Result<Data, FileReadFailure> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(FileReadFailure(path: path, errno: errno)) }
        if let kind = FileReadFailure.kindName(info.st_mode), kind != "a regular file" {
            return .failure(FileReadFailure(reason: "it is \(kind), not a regular file"))
        }
        guard info.st_size <= limit else {
            return .failure(FileReadFailure(reason: "it holds \(info.st_size) bytes, more than the \(limit) this reader accepts"))
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(FileReadFailure(errno: errno)) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit + 1 < 1 << 16 ? limit + 1 : 1 << 16)
        var data = Data()
        while true {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(FileReadFailure(errno: errno))
            }
            if n == 0 { return .success(data) }
            data.append(contentsOf: bytes[..<n])
            if data.count > limit {
                return .failure(FileReadFailure(reason: "it holds more than the \(limit) bytes this reader accepts"))
            }
        }
    }
}

/// Why a file could not be read, as a clause: "permission denied", "it is a directory, not a
/// regular file", ….
public struct FileReadFailure: Error, CustomStringConvertible, Equatable {
    public var reason: String
    /// The path itself does not exist (not a link to nothing, a loop or a permission problem).
    public private(set) var isMissingPath = false
    public init(reason: String) { self.reason = reason }
    public init(errno code: Int32) {
        isMissingPath = code == ENOENT
        switch code {
        case ENOENT: reason = "it does not exist"
        case EACCES, EPERM: reason = "permission denied (this user may not read it)"
        case ELOOP: reason = "it is a symbolic link loop"
        case ENOTDIR: reason = "a component of the path is not a directory"
        case EISDIR: reason = "it is a directory, not a regular file"
        default: reason = String(cString: strerror(code))
        }
    }
    /// The failure of a `stat`/`open` of `path` with `code`; a path that does not exist because it
    /// is a symbolic link to nothing names the link's target instead (the path is there, what it
    /// points to is not).
    public init(path: String, errno code: Int32) {
        var info = stat()
        guard code == ENOENT, lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else {
            self.init(errno: code)
            return
        }
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &target, target.count - 1)
        let shown = count >= 0 ? String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        self.init(reason: "it is a symbolic link to '\(shown)', which does not exist")
    }

    public var description: String { reason }

    /// "a directory", "a FIFO", … for a `st_mode`; nil for kinds without a name here.
    static func kindName(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return nil
        }
    }
}

extension JSONValue {
    /// The largest JSON file `read(path:)` accepts (configs and shard indexes are far smaller).
    package static let maxFileBytes = 256 << 20

    /// Reads and parses (leniently) a JSON file; errors name `path`.
    package static func read(path: String) throws -> JSONValue {
        switch FileContents.readRegularFile(path, limit: maxFileBytes) {
        case .success(let data): return try parse(data, path: path)
        case .failure(let failure): throw JSONError(path: path, reason: "cannot read the file: \(failure.reason)")
        }
    }
}

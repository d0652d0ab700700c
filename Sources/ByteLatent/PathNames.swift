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
}

extension JSONValue {
    /// Reads and parses (leniently) a JSON file; errors name `path`.
    package static func read(path: String) throws -> JSONValue {
        guard let data = FileContents.read(path) else {
            throw JSONError(path: path, reason: "cannot read the file")
        }
        return try parse(data, path: path)
    }
}

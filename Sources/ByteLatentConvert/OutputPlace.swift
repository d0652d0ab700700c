import ByteLatent
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// Where `blt convert` may write: the destination resolved to an absolute path and checked against
/// the source before anything is read or written.
///
/// - The destination may not be the source, lie inside it, or contain it (converting `H` into `H`,
///   `H/out` or `H/..` would destroy the checkpoint being read).
/// - An existing destination is replaced only with `force`, and only when it is an empty directory
///   or an earlier conversion that its manifest (`OutputManifest`) lists whole and unchanged.
///   Anything else is the user's and is left alone; the check is made again just before the move.
struct OutputPlace {
    /// Absolute destination path (existing part with symbolic links resolved).
    let path: String
    let parent: String
    let base: String

    /// File names a conversion writes.
    static func isOutputName(_ name: String) -> Bool {
        if ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors", "model.safetensors.index.json"].contains(name) { return true }
        // model-00001-of-00003.safetensors
        return name.hasPrefix("model-") && name.hasSuffix(".safetensors") && name.contains("-of-")
    }

    /// What a conversion leaves in its temporary directory: output files, and the safetensors
    /// writer's partial files of a killed run (`.model.safetensors.tmp-PID-…`).
    static func isConversionFile(_ name: String) -> Bool {
        if isOutputName(name) { return true }
        guard name.hasPrefix("."), let cut = name.range(of: ".tmp-") else { return false }
        return isOutputName(String(name[name.index(after: name.startIndex) ..< cut.lowerBound]))
    }

    init(source: String, destination: String, force: Bool) throws {
        guard !destination.isEmpty else { throw ConvertError.io(path: destination, reason: "the destination is empty; give a directory name") }
        let dst = Self.resolve(destination)
        let src = Self.resolve(source)
        path = dst
        (parent, base) = PathNames.split(dst)
        if dst == "/" || parent.isEmpty || base.isEmpty || base == "." || base == ".." {
            throw ConvertError.unsafeDestination(path: destination, reason: "it is not a directory name a conversion can be written to")
        }
        func inside(_ a: String, _ b: String) -> Bool { a.hasPrefix(b == "/" ? "/" : b + "/") }
        if dst == src {
            throw ConvertError.unsafeDestination(path: destination, reason: "it is the source checkpoint itself; choose a new directory, e.g. \(PathNames.split(src).base)-hf beside it")
        }
        if inside(dst, src) {
            throw ConvertError.unsafeDestination(path: destination, reason: "it lies inside the source checkpoint '\(source)'; choose a directory outside it")
        }
        if inside(src, dst) {
            throw ConvertError.unsafeDestination(path: destination, reason: "it contains the source checkpoint '\(source)', which replacing it would delete; choose a new directory")
        }
        var info = stat()
        if lstat(dst, &info) == 0 {
            guard force else { throw ConvertError.destinationExists(path: destination) }
            try Self.checkReplaceable(dst, shownAs: destination)
        } else {
            var parentInfo = stat()
            guard stat(parent, &parentInfo) == 0, parentInfo.st_mode & S_IFMT == S_IFDIR else {
                throw ConvertError.io(path: parent, reason: "the destination's parent directory does not exist; create it first")
            }
        }
    }

    /// Throws unless `path` is a directory a forced conversion may replace: empty, or an earlier
    /// conversion whose manifest lists everything in it, unchanged.
    static func checkReplaceable(_ path: String, shownAs shown: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ConvertError.unsafeDestination(path: shown, reason: "it exists and is not a directory; forcing replaces only a directory that a conversion wrote")
        }
        let foreign = OutputManifest.foreignEntries(in: path)
        guard foreign.isEmpty else {
            throw ConvertError.unsafeDestination(path: shown, reason: "it holds what a conversion did not write or what changed since (\(foreign.prefix(5).joined(separator: ", "))\(foreign.count > 5 ? ", …" : "")); forcing replaces only an empty directory or an unchanged earlier conversion: remove it yourself or choose another directory")
        }
    }

    /// Absolute, with `.`/`..` and symbolic links of the existing part resolved, no trailing slash.
    static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let real = realpath(absolute, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let standardized = PathNames.normalized(absolute)
        let (parent, base) = PathNames.split(standardized)
        if let real = realpath(parent, nil) {
            defer { free(real) }
            let p = String(cString: real)
            return (p == "/" ? "" : p) + "/" + base
        }
        return standardized
    }

    /// Temporary directories (`.NAME.tmp-PID`, `.NAME.old-PID`) left beside the destination by
    /// conversions that were killed (SIGKILL, power loss): a `.tmp-` directory whose process is gone
    /// and that carries the temporary marker loses the files a conversion writes, and then itself if
    /// nothing else is left; anything else is reported and left alone.
    func removeStaleTemporaries(notice: ((String) -> Void)?) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names {
            let kept: Bool
            if name.hasPrefix(".\(base).tmp-") { kept = false } else if name.hasPrefix(".\(base).old-") { kept = true } else { continue }
            let suffix = name.dropFirst(".\(base).tmp-".count)
            guard let pid = Int32(suffix), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }   // its conversion is still running
            let full = join(parent, name)
            if !kept, OutputManifest.isMarkedTemporary(full) {
                if OutputManifest.removeOwnFiles(in: full, names: Self.isConversionFile) {
                    notice?("removed \(full), the unfinished output of an earlier conversion that was killed (process \(pid))")
                } else {
                    notice?("found \(full), the unfinished output of an earlier conversion that was killed; it holds more than a conversion writes, which was left alone: check it and remove it yourself")
                }
            } else {
                notice?("found \(full), left by an earlier conversion that was killed (process \(pid)); \(kept ? "it holds the previous output that was being replaced: " : "")check it and remove it yourself")
            }
        }
    }
}

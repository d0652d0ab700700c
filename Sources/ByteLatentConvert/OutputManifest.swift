import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// What a conversion wrote, by identity: each file's name, size, inode and modification time, kept
/// in the output as `.blt-convert-manifest.json`. `--force` replaces an output only when everything
/// in it is listed here and still matches (the same file, unchanged), so a file of the user's —
/// even one under a name a conversion writes — is never replaced or deleted.
struct OutputManifest: Equatable {
    static let fileName = ".blt-convert-manifest.json"
    /// Inside a temporary output directory from the moment it exists: only marked directories are
    /// ever removed, and only the files in them that a conversion writes.
    static let temporaryMarker = ".blt-convert-temporary"

    struct Entry: Equatable {
        var name: String
        var bytes: Int64
        var inode: UInt64
        var modified: Int64   // nanoseconds since the epoch
    }
    var entries: [Entry]

    /// The manifest of the files now in `directory` (every regular file but the marker).
    static func of(directory: String) throws -> OutputManifest {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        return OutputManifest(entries: try names.filter { $0 != temporaryMarker && $0 != fileName }.map { name in
            guard let entry = identity(join(directory, name), name: name) else {
                throw ConvertError.io(path: join(directory, name), reason: "not a regular file in a conversion's output")
            }
            return entry
        })
    }

    /// Writes this manifest into `directory`.
    func write(into directory: String) throws {
        let files = entries.map { e in
            JSONValue.object([("name", .string(e.name)), ("bytes", .number(JSONNumber(Int(e.bytes)))), ("inode", .string(String(e.inode))),
                              ("modified_ns", .string(String(e.modified)))])
        }
        let json = JSONValue.object([("written_by", .string("blt convert")), ("files", .array(files))])
        let path = join(directory, Self.fileName)
        if let reason = Array((json.serialized() + "\n").utf8).withUnsafeBytes({ writeNewFile(path, $0) }) {
            throw ConvertError.io(path: path, reason: "cannot write the output's manifest: \(reason)")
        }
    }

    /// The manifest in `directory`, or nil when there is none (or it is not one of ours).
    static func read(directory: String) -> OutputManifest? {
        guard let json = try? JSONValue.read(path: join(directory, fileName)), json["written_by"]?.stringValue == "blt convert",
              case .array(let files)? = json["files"] else { return nil }
        var entries: [Entry] = []
        for file in files {
            guard let name = file["name"]?.stringValue, let bytes = file["bytes"]?.intValue,
                  let inode = file["inode"]?.stringValue.flatMap({ UInt64($0) }),
                  let modified = file["modified_ns"]?.stringValue.flatMap({ Int64($0) }) else { return nil }
            entries.append(Entry(name: name, bytes: Int64(bytes), inode: inode, modified: modified))
        }
        return OutputManifest(entries: entries)
    }

    /// What in `directory` a conversion did not write or that changed since: empty when the
    /// directory may be replaced (it is empty, or holds exactly an unchanged earlier conversion).
    static func foreignEntries(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return ["(unreadable)"] }
        if names.isEmpty { return [] }
        guard let manifest = read(directory: directory) else {
            // Name what is there, then why none of it counts as ours.
            return names.sorted().filter { $0 != fileName }
                + [names.contains(fileName) ? "\(fileName) not written by blt convert" : "no \(fileName)"]
        }
        let own = manifest.unchangedNames(in: directory)
        return names.sorted().filter { $0 != fileName && !own.contains($0) }.map { name in
            manifest.entries.contains { $0.name == name } ? "\(name) (changed since it was written)" : name
        }
    }

    /// The files in `directory` this manifest lists that are still the very files it lists.
    func unchangedNames(in directory: String) -> Set<String> {
        Set(entries.filter { Self.identity(join(directory, $0.name), name: $0.name) == $0 }.map(\.name))
    }

    /// Removes `directory` file by file: only regular files named in `names` (and the manifest and
    /// marker), then the directory itself. Never recursive: whatever else is inside stays, and so does
    /// the directory. Returns true when it is gone.
    @discardableResult
    static func removeOwnFiles(in directory: String, names: (String) -> Bool) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in entries where names(name) || name == fileName || name == temporaryMarker {
            let path = join(directory, name)
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG { unlink(path) }
        }
        return rmdir(directory) == 0
    }

    /// A conversion's temporary directory: created (not reused) and marked at once.
    static func makeTemporary(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 else {
            throw ConvertError.io(path: path, reason: "cannot create the temporary output directory: " + String(cString: strerror(errno)))
        }
        if let reason = Array("blt convert \(getpid())\n".utf8).withUnsafeBytes({ writeNewFile(join(path, temporaryMarker), $0) }) {
            rmdir(path)
            throw ConvertError.io(path: path, reason: "cannot mark the temporary output directory: \(reason)")
        }
    }

    static func isMarkedTemporary(_ path: String) -> Bool {
        var info = stat()
        return lstat(join(path, temporaryMarker), &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    private static func identity(_ path: String, name: String) -> Entry? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return Entry(name: name, bytes: Int64(info.st_size), inode: UInt64(info.st_ino), modified: modified)
    }
}

/// rename(2) that fails with EEXIST instead of replacing what is at `to` (renameat2 with
/// RENAME_NOREPLACE; Swift's Glibc module does not declare it, so it is looked up once).
func renameWithoutReplacing(_ from: String, _ to: String) -> Int32 {
    guard let renameat2 = renameat2Function else { errno = ENOSYS; return -1 }
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */)
}

private let renameat2Function: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }   // RTLD_DEFAULT
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self)
}()

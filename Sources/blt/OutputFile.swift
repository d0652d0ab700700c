import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file the user asked us to write (`--svg`, `--per-byte`). Checked before any work starts: it
/// must not be a directory or a device, nor one of the inputs, and its folder must exist. The
/// content goes to a new temporary file beside it, which replaces the named file only in `commit()`:
/// a failed or interrupted run leaves the old file (if any) untouched and no partial file behind.
final class OutputFile {
    let path: String
    let option: String
    private var temporary: String?
    private var descriptor: Int32?

    /// - Parameters:
    ///   - option: the option that named the file, for messages ("--svg").
    ///   - inputs: files this run reads, which must not be replaced.
    init(path: String, option: String, inputs: [String] = []) throws {
        self.option = option
        guard !path.isEmpty else { throw CommandError("\(option): give a file name") }
        // The same refusals as --output (directories, devices, the model directory, the inputs).
        _ = try OutputPath(path, option: option, protecting: inputs.filter { $0 != "-" }.map { ($0, "an input of this run") })
        // Through a symbolic link, write the file it points to (the link stays).
        let destination = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        self.path = destination
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                throw CommandError("\(option) '\(path)' is a directory; give a file name inside it (e.g. \(path)/plot.svg)")
            }
            let type = (try? FileManager.default.attributesOfItem(atPath: destination))?[.type] as? FileAttributeType
            guard type == .typeRegular else {
                throw CommandError("\(option) '\(path)' exists and is not a regular file; give the name of a file to create or replace")
            }
        }
        let folder = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        var folderIsDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &folderIsDirectory), folderIsDirectory.boolValue else {
            throw CommandError("\(option) '\(path)': the folder '\(folder)' does not exist; create it first")
        }
        // A fresh name in the same folder (so the final rename stays on one file system), created
        // exclusively so that no existing file is ever opened.
        let name = URL(fileURLWithPath: destination).lastPathComponent
        for attempt in 0..<16 {
            let candidate = folder + "/." + name + ".\(getpid()).\(attempt).partial"
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                temporary = candidate
                descriptor = fd
                return
            }
            if errno != EEXIST {
                throw CommandError("\(option) '\(path)': cannot create a file in '\(folder)': \(String(cString: strerror(errno)))")
            }
        }
        throw CommandError("\(option) '\(path)': cannot create a temporary file in '\(folder)'")
    }

    func write(_ text: String) throws {
        guard let descriptor else { return }
        if let reason = Array(text.utf8).withUnsafeBytes({ writeAll(descriptor, $0) }) {
            discard()
            throw CommandError("cannot write '\(path)' (\(option)): \(reason); nothing was written")
        }
    }

    /// Puts the complete file in place of `path`.
    func commit() throws {
        guard let temporary, let descriptor else { return }
        if fsync(descriptor) != 0, errno != EINVAL {
            let reason = String(cString: strerror(errno))
            discard()
            throw CommandError("cannot write '\(path)' (\(option)): \(reason); nothing was written")
        }
        close(descriptor)
        self.descriptor = nil
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw CommandError("cannot write '\(path)' (\(option)): \(reason)")
        }
        self.temporary = nil
    }

    /// Removes the temporary file; the named file is left as it was.
    func discard() {
        if let descriptor { close(descriptor) }
        descriptor = nil
        if let temporary { unlink(temporary) }
        temporary = nil
    }

    deinit { discard() }
}

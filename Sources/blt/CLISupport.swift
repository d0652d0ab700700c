import ArgumentParser
import ByteLatent
import ByteLatentEval
import Safetensors
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// A failure while running a command (not a usage mistake): printed as "Error: …", exit status 1,
/// without the usage text that ArgumentParser adds to a `ValidationError`.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Precision: ExpressibleByArgument {
    static let help: ArgumentHelp = "Arithmetic of the weight products: fp32 (default; matches transformers in fp32) or bf16 (activations rounded to bf16 before each product, bf16 dot products on CPUs with AVX512-BF16, AMX tiles on CPUs with AMX, where attention also runs in bf16 as in transformers bf16; keys and values, and the KV caches of generation, are kept in bf16 everywhere). See Docs/benchmarks.md for its effect on bits per byte."
}

// MARK: Standard streams

/// Standard input, output and error through POSIX calls that report failures instead of trapping
/// (FileHandle's non-throwing read/write methods abort the process on EBADF or ENOSPC).
///
/// A stream the process was started without (`<&-`, `>&-`) is reserved with /dev/null at start-up,
/// so a file opened later can never take its descriptor and receive output meant for the terminal;
/// reading or writing it is then an error. SIGPIPE and SIGXFSZ are ignored, so a write to a closed
/// pipe or past `ulimit -f` fails with EPIPE or EFBIG and is reported as an error (and a partial
/// output file removed) instead of killing the process.
enum StandardStreams {
    nonisolated(unsafe) static var inputClosed = false
    nonisolated(unsafe) static var outputClosed = false
    /// Set once a failing standard output has been reported (so exit does not report it again).
    nonisolated(unsafe) static var outputErrorReported = false

    /// Call first thing in main.
    static func setUp() {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        for fd: Int32 in [0, 1, 2] where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0, null != fd { dup2(null, fd); close(null) }
            if fd == 0 { inputClosed = true }
            if fd == 1 { outputClosed = true }
        }
        // Paths that end in exit() inside ArgumentParser (--help, --version) skip main's own check:
        // output still buffered at exit that cannot be written turns the status into 1.
        atexit {
            if !StandardStreams.outputErrorReported, fflush(stdout) != 0 || ferror(stdout) != 0 {
                fputs("Error: cannot write to standard output: \(String(cString: strerror(errno)))\n", stderr)
                _exit(1)
            }
        }
    }

    /// Appends to standard output's buffer; a failing stream is reported by `write` or `flush`.
    static func write(_ bytes: some Collection<UInt8>) throws {
        if outputClosed { throw outputError("it is closed") }
        let data = Array(bytes)
        let written = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stdout) }
        if written != data.count || ferror(stdout) != 0 { throw outputError(String(cString: strerror(errno))) }
    }

    static func write(_ text: String) throws { try write(text.utf8) }

    /// Writes buffered output through to the file; throws if any of it was lost.
    static func flush() throws {
        if outputClosed { throw outputError("it is closed") }
        if fflush(stdout) != 0 || ferror(stdout) != 0 { throw outputError(String(cString: strerror(errno))) }
    }

    static func outputError(_ reason: String) -> CommandError {
        outputErrorReported = true
        return CommandError("cannot write the results to standard output (\(reason)); nothing more was written. Redirect the output to a writable file (or use --output where the command has it)")
    }

    /// Standard error: best effort (there is nowhere left to report its own failure).
    static func error(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { fputs($0.baseAddress!, stderr) }
    }
}

/// Safetensors' `writeFully` with the reason of a failure ("No space left on device", "File too
/// large", "Broken pipe"), nil on success.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
    writeFully(fd, bytes).map { String(cString: strerror($0)) }
}

/// Reads a whole file, or standard input for "-", with an error that names the file. FIFOs and
/// character devices are read as streams (`<(zcat …)` works); directories are refused. At most
/// `limit` bytes: an endless stream (`/dev/zero`) ends in an error, not in exhausted memory.
func readInput(_ path: String, limit: Int = DocumentReader.defaultMaxDocumentBytes) throws -> [UInt8] {
    if path == "-" {
        if StandardStreams.inputClosed { throw CommandError("standard input is closed; pipe the input in, or pass a file instead of '-'") }
        return try readAll(0, name: "standard input", limit: limit)
    }
    var info = stat()
    guard stat(path, &info) == 0 else {
        throw CommandError("cannot read '\(path)': \(String(cString: strerror(errno))); check the path")
    }
    if info.st_mode & S_IFMT == S_IFDIR { throw CommandError("'\(path)' is a directory; pass a file") }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CommandError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    return try readAll(fd, name: "'\(path)'", limit: limit)
}

private func readAll(_ fd: Int32, name: String, limit: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { return out }
        if n < 0 {
            if errno == EINTR { continue }
            throw CommandError("cannot read \(name): \(String(cString: strerror(errno)))")
        }
        guard out.count + n <= limit else {
            throw CommandError("\(name) holds more than \(limit) bytes, the most this command reads from one input; pass a smaller input")
        }
        out.append(contentsOf: buffer[0 ..< n])
    }
}

/// Prints one JSON object on one line (sorted keys) on standard output.
func printJSON(_ object: [(String, JSONValue)]) throws {
    try StandardStreams.write(JSONValue.object(object).serialized(.sortedLine) + "\n")
}

/// Prints a line on standard output (like `print`, but a failing stream is an error).
func printLine(_ text: String) throws { try StandardStreams.write(text + "\n") }

/// A number given on the command line that must be finite (NaN, ±inf and values beyond Float's
/// range, which parse as inf, are refused).
func requireFinite(_ value: Float?, _ option: String) throws {
    if let value, !value.isFinite {
        throw ValidationError("\(option) must be a finite number (values beyond ±3.4e38 are infinite as Float)")
    }
}

// MARK: Models

/// Loads a model directory, with a message that says what the path is when it is not one.
func loadModel(_ path: String, precision: Precision = .float32, readAhead: Bool = true) throws -> BLTModel {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw CommandError("--model '\(path)' is a file, not a model directory; pass the directory that holds config.json and model.safetensors")
    }
    do { return try BLTModel(directory: path, precision: precision, readAhead: readAhead) } catch { throw ModelLoadError(path: path, underlying: error) }
}

// MARK: Output files

/// Where a command may write its result file: checked before any work, so a bad path fails fast.
struct OutputPath {
    let path: String

    /// Refuses anything but a new or existing regular file, and any path equal to or inside one of
    /// `protected` (the model directory, the inputs; each with a label for the message): `--output`
    /// must never replace what the user did not ask to.
    init(_ path: String, option: String = "--output", protecting protected: [(path: String, label: String)]) throws {
        self.path = path
        if path.isEmpty || path.hasSuffix("/") || PathNames.split(path).base == "." || PathNames.split(path).base == ".." {
            throw ValidationError("\(option) '\(path)' does not name a file; give the name of a file to write (e.g. result.json)")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            var target = info
            let isLink = info.st_mode & S_IFMT == S_IFLNK
            if isLink, stat(path, &target) != 0 { target = info }
            let kind = target.st_mode & S_IFMT
            if kind == S_IFDIR {
                throw ValidationError("\(option) '\(path)' is a directory; give the name of a file to write (e.g. result.json), which may not be a directory")
            }
            if kind != S_IFREG && !(isLink && kind == S_IFLNK) {
                throw ValidationError("\(option) '\(path)' is not a regular file (a device, FIFO or socket); give a file name, or omit \(option) and redirect standard output")
            }
        }
        let resolved = Self.resolve(path)
        for (directory, label) in protected {
            let root = Self.resolve(directory)
            if resolved == root {
                throw ValidationError("\(option) '\(path)' is \(label) '\(directory)', which this command reads; write the result somewhere else")
            }
            if resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
                throw ValidationError("\(option) '\(path)' lies inside \(label) '\(directory)'; write the result somewhere else")
            }
        }
        // By identity too, after the paths: through links (a Hugging Face snapshot's files point into its blobs/),
        // another path may reach a file this command reads.
        var target = stat()
        if stat(path, &target) == 0 {
            for (item, label) in protected {
                if let file = Self.files(of: item).first(where: { Self.identity($0).map { $0 == (target.st_dev, target.st_ino) } ?? false }) {
                    throw ValidationError("\(option) '\(path)' is the same file as '\(file)' of \(label) '\(item)' (reached through a link), which this command reads; write the result somewhere else")
                }
            }
        }
        // The directory as the kernel will walk it ("missing/../x" fails even though it normalises to "x").
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let parent = PathNames.split(absolute).parent
        var parentInfo = stat()
        guard stat(parent, &parentInfo) == 0, parentInfo.st_mode & S_IFMT == S_IFDIR else {
            throw ValidationError("\(option) '\(path)': the directory '\(parent)' does not exist; create it first")
        }
    }

    /// `item` itself, and when it is a directory each entry in it (a model directory is flat).
    static func files(of item: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []
        return [item] + entries.map { item + "/" + $0 }
    }

    /// (device, inode) of what `path` reaches, links followed.
    static func identity(_ path: String) -> (dev_t, ino_t)? {
        var info = stat()
        return stat(path, &info) == 0 ? (info.st_dev, info.st_ino) : nil
    }

    /// The absolute path with symbolic links of the existing part resolved.
    static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let real = realpath(absolute, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let (parent, base) = PathNames.split(PathNames.normalized(absolute))
        if let real = realpath(parent, nil) {
            defer { free(real) }
            let p = String(cString: real)
            return (p == "/" ? "" : p) + "/" + base
        }
        return PathNames.normalized(absolute)
    }

    /// Writes `data` to a new temporary file beside the target, then renames it into place: a crash
    /// never leaves a partial file under the final name, and no other file is touched.
    func write(_ data: Data) throws {
        // Beside the path as given (not a symbolic link's target), so the rename stays in one directory.
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let (directory, base) = PathNames.split(absolute)
        var template = Array("\(directory)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CommandError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var reason = data.withUnsafeBytes { writeAll(fd, $0) } ?? ""
        var ok = reason.isEmpty
        if ok, fsync(fd) != 0, errno != EINVAL { ok = false; reason = String(cString: strerror(errno)) }
        fchmod(fd, 0o644 & ~Self.umaskValue)
        close(fd)
        if ok, rename(temporary, path) != 0 { ok = false; reason = String(cString: strerror(errno)) }
        if !ok {
            unlink(temporary)
            throw CommandError("cannot write '\(path)': \(reason); nothing was written")
        }
    }

    static var umaskValue: mode_t {
        let current = umask(0o022)
        umask(current)
        return current
    }
}

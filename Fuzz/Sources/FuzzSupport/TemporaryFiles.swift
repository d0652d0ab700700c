import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private scratch directory per harness process (in /dev/shm when it exists, so writing the
/// input for path-based parsers costs a memory copy, not disk I/O). Removed at exit.
public let scratchDirectory: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/blt-fuzz-\(getpid())"
    mkdir(path, 0o700)
    atexit { removeScratch() }
    return path
}()

private func removeScratch() { try? FileManager.default.removeItem(atPath: scratchDirectory) }

/// Writes `bytes` to `scratchDirectory/name` (replacing it) and returns the path.
@discardableResult
public func writeScratch(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = scratchDirectory + "/" + name
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        precondition(n > 0, "cannot write \(path)")
        done += n
    }
    close(fd)
    return path
}

/// The fuzzer's input as a buffer (libFuzzer may pass a null pointer for an empty input).
public func inputBuffer(_ data: UnsafeRawPointer?, _ size: Int) -> UnsafeRawBufferPointer {
    guard let data, size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(start: data, count: size)
}

/// The repository's root directory (for fixtures the harnesses need beside their input).
public let repositoryRoot: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
}()

public typealias FuzzTarget = @convention(c) (UnsafeRawPointer?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzTarget) -> CInt

/// Runs libFuzzer on `target` with the command-line arguments. SwiftPM links an executable target's
/// entry point as `<Module>_main` on Linux, so each harness defines that symbol and calls this
/// (libFuzzer's own main() is never used).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ target: FuzzTarget) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, target)
}

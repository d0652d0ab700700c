#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR: the one checked writer of the
/// package and its command line (Foundation's FileHandle.write traps on ENOSPC). Returns the
/// errno of a failure (ENOSPC, EFBIG once SIGXFSZ is ignored, EPIPE once SIGPIPE is), nil on success.
public func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    guard var next = bytes.baseAddress else { return nil }
    var left = bytes.count
    while left > 0 {
        #if canImport(Glibc)
        let n = Glibc.write(fd, next, left)
        #else
        let n = Darwin.write(fd, next, left)
        #endif
        if n < 0, errno == EINTR { continue }
        if n <= 0 { return n < 0 ? errno : EIO }
        next += n
        left -= n
    }
    return nil
}

/// Creates `path` (never an existing file) holding `bytes`; the reason of a failure, nil on success.
public func writeNewFile(_ path: String, _ bytes: UnsafeRawBufferPointer) -> String? {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return errnoText(errno) }
    let failure = writeFully(fd, bytes)
    close(fd)
    if let failure {
        unlink(path)
        return errnoText(failure)
    }
    return nil
}

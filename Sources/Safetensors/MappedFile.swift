#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole regular file (safetensors files and index files, torch
/// zip archives); unmapped when the last reference goes away. An empty file maps to no bytes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    public var size: Int { bytes.count }

    /// Why a file could not be mapped; each reader turns it into its own error.
    public enum OpenError: Error, Equatable {
        /// open(2) or fstat(2) failed with `errno` (ENOENT: no such file).
        case cannotOpen(errno: Int32)
        case isDirectory
        /// A FIFO, device or socket.
        case notRegularFile
        case mapFailed(errno: Int32)
    }

    /// Kept open with the mapping, so `currentSize()` sees the mapped file itself even after its
    /// path was replaced; -1 for an empty file.
    private let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)   // O_NONBLOCK: a FIFO must not hang the open
        if fd < 0 { throw OpenError.cannotOpen(errno: errno) }
        var st = stat()
        var failure: OpenError?
        if fstat(fd, &st) != 0 { failure = .cannotOpen(errno: errno) }
        else if (st.st_mode & S_IFMT) == S_IFDIR { failure = .isDirectory }
        else if (st.st_mode & S_IFMT) != S_IFREG { failure = .notRegularFile }
        if let failure { close(fd); throw failure }
        let size = Int(st.st_size)
        if size == 0 {   // mmap refuses a zero length
            close(fd)
            descriptor = -1
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil { let code = errno; close(fd); throw OpenError.mapFailed(errno: code) }
        descriptor = fd
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// The size of the mapped file now (nil if it cannot be asked). Smaller than `size` means the
    /// file was truncated after it was mapped: reading its pages past the new end raises SIGBUS.
    public func currentSize() -> Int? {
        guard descriptor >= 0 else { return size }
        var st = stat()
        return fstat(descriptor, &st) == 0 ? Int(st.st_size) : nil
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        if descriptor >= 0 { close(descriptor) }
    }
}

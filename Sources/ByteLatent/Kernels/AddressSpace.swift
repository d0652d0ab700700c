import COpenBLAS
import Glibc

/// The process's address-space limit (RLIMIT_AS, `ulimit -v`) is too small for what the kernels
/// reserve. OpenBLAS takes a 128 MiB buffer per thread that multiplies at once and, when the limit
/// refuses it, retries forever: this is checked before the first product instead.
public struct AddressSpaceError: Error, Equatable, CustomStringConvertible {
    public var limitBytes: Int
    public var usedBytes: Int
    public var neededBytes: Int

    public var description: String {
        func megabytes(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }
        let suggested = (usedBytes + neededBytes + (256 << 20)) >> 10
        return "the process's address-space limit (RLIMIT_AS) is \(megabytes(limitBytes)) and \(megabytes(usedBytes)) of it is in use (the model's mapped weights included), but the matrix products reserve at least \(megabytes(neededBytes)) more (OpenBLAS takes 128 MiB for each thread that multiplies at once, and waits forever when it cannot); raise the limit to at least \(suggested) KiB (the unit of `ulimit -v`), or use fewer threads (OPENBLAS_NUM_THREADS=1)"
    }
}

public enum AddressSpace {
    /// OpenBLAS's per-thread buffer (BUFFER_SIZE of its x86-64 builds plus a page).
    static let openBLASBufferBytes = (128 << 20) + 4096

    /// Buffers OpenBLAS can hold at once: its own workers keep one each, and every thread of ours
    /// that calls it single-threaded (`parallelFor`) takes one while it multiplies.
    static var openBLASBuffers: Int { max(1, Int(openblas_get_num_threads())) - 1 + coreCount }

    /// What the products reserve beyond the weights, a floor: OpenBLAS's buffers, a malloc arena
    /// (64 MiB of address space) for each thread that multiplies, and 64 MiB for activations. Under
    /// a limit below it, runs of the tiny models spun in OpenBLAS, failed, or aborted at random.
    static var neededBytes: Int {
        let threads = max(1, Int(openblas_get_num_threads())) - 1 + coreCount
        return openBLASBuffers * openBLASBufferBytes + (threads + 1) * (64 << 20)
    }

    /// Throws `AddressSpaceError` when RLIMIT_AS leaves less room than OpenBLAS's buffers need
    /// (not yet reserved) beside what the process maps now. No limit: nothing to check.
    public static func checkHeadroom() throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return }
        guard let used = mappedBytes() else { return }
        let needed = neededBytes
        let limitBytes = limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur)
        if limitBytes - used < needed {
            throw AddressSpaceError(limitBytes: limitBytes, usedBytes: used, neededBytes: needed)
        }
    }

    /// The process's mapped address space now (VmSize), from /proc/self/statm.
    static func mappedBytes() -> Int? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0, let pages = Int(String(decoding: buffer[..<count].prefix { $0 != 0x20 }, as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

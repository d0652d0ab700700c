#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Advice to the kernel about how mapped checkpoint bytes will be read. Both only cover the
/// whole pages inside `bytes`, never data outside it.
public enum MappedPages {
    /// The rows will be read at random (huge embedding tables): no readahead, so touching one
    /// row does not pull in (and count in the resident set) the megabytes around it.
    public static func adviseRandomAccess(_ bytes: UnsafeRawBufferPointer) {
        advise(bytes, MADV_RANDOM)
    }

    /// The bytes will all be read soon (weights a pass multiplies by): the kernel starts reading
    /// them from disk in the background now, in large requests, instead of one fault at a time
    /// when a pass first touches them.
    public static func adviseWillNeed(_ bytes: UnsafeRawBufferPointer) {
        advise(bytes, MADV_WILLNEED)
    }

    /// The bytes were consumed (converted or copied): the mapping forgets them, so the resident
    /// set stays small. The data stays in the page cache and is read again if touched.
    public static func release(_ bytes: UnsafeRawBufferPointer) {
        advise(bytes, MADV_DONTNEED)
    }

    private static func advise(_ bytes: UnsafeRawBufferPointer, _ advice: Int32) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + bytes.count) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, advice) }
    }
}

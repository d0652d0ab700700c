import CKernels

/// Activations are fresh arrays per layer (tens of MB on blt-1b), and glibc hands every freed
/// block above its threshold (128 KB, rising to at most 32 MB) straight back to the kernel, so the
/// next layer's arrays fault in new zeroed pages: 600,000 page faults, about 15 % of a bf16 eval of
/// blt-1b on 2 KiB. `keepForReuse()` keeps blocks up to 32 MB (glibc's largest threshold) in the heap
/// and stops trimming it, so they are reused: 125,000 faults, the same peak RSS.
///
/// It changes the whole process's allocator, so the library never calls it on its own: the `blt`
/// CLI does, and an application embedding the engine may (Docs/library.md).
public enum FreedMemory {
    public static func keepForReuse() { blt_keep_freed_memory() }
}

/// The allocator policy for the engine's activation buffers.
public enum Allocation {
    /// glibc serves blocks above its mmap threshold (128 KiB at first) with fresh mappings and
    /// unmaps them on free, so every prefill buffer (a few MB each) is page-faulted and zeroed
    /// by the kernel again: 12-15% of a prefill's time, measured. Raising the threshold and the
    /// trim threshold keeps freed activation memory in the heap for the next request; resident
    /// memory grows only by the activations' high-water mark.
    public static func keepFreedBuffers() {
        #if os(Linux)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 512 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
    }
}

#if os(Linux)
/// int mallopt(int param, int value) from <malloc.h>, which the Glibc module does not export.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

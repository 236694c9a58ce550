import Foundation

/// Reusable temporaries for the products (quantised activations, s32 accumulators, widened
/// weight blocks): a prefill's are several MB per call, which glibc would map, page-fault and
/// unmap on every call. Buffers are taken and given back; each keeps its size, so after the
/// first batch of a shape nothing is allocated. Callers on different threads get different
/// buffers.
public enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []

    /// Runs body with at least `bytes` bytes of 64-byte-aligned scratch (contents undefined).
    public static func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) -> R) -> R {
        lock.lock()
        // The smallest buffer that fits; else the largest, grown.
        let fitting = free.indices.filter { free[$0].bytes >= bytes }.min { free[$0].bytes < free[$1].bytes }
        let pick = fitting ?? free.indices.max { free[$0].bytes < free[$1].bytes }
        var buffer = pick.map { free.remove(at: $0) }
        lock.unlock()
        if let b = buffer, b.bytes < bytes {
            b.pointer.deallocate()
            buffer = nil
        }
        let held = buffer ?? (UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64), max(bytes, 64))
        defer {
            lock.lock()
            free.append(held)
            lock.unlock()
        }
        return body(held.pointer)
    }

    /// Bytes held by the free buffers (for reports and tests).
    public static var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return free.reduce(0) { $0 + $1.bytes }
    }
}

extension UnsafeMutableRawPointer {
    /// Carves consecutive typed arrays out of one scratch buffer, each 64-byte aligned.
    @inline(__always)
    func carve<T>(_ type: T.Type, count: Int, at offset: inout Int) -> UnsafeMutablePointer<T> {
        let p = (self + offset).bindMemory(to: T.self, capacity: count)
        offset += (count * MemoryLayout<T>.stride + 63) / 64 * 64
        return p
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file. Checkpoints are hundreds of MB: mapping lets the
/// loader convert tensors straight from the page cache without a second resident copy.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws(NumericsError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw NumericsError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw NumericsError("cannot stat \(path)") }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw NumericsError("cannot memory-map \(path): \(String(cString: strerror(errno)))")
        }
        base = mapped
        bytes = UnsafeRawBufferPointer(start: mapped, count: count)
    }

    deinit {
        if let base { munmap(base, count) }
    }
}

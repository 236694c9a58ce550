import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The writer lock of one adapters directory, shared by every replica that mounts it: an fcntl
/// write lock on `.adapter-serve/lock`. fcntl (POSIX record) locks are what NFSv4 carries to the
/// server (flock is emulated with them on Linux NFS clients), so the lock holds across machines
/// on a ReadWriteMany volume, unlike inotify or an in-process mutex.
///
/// POSIX locks belong to the process, not the thread, and closing any descriptor of the file
/// drops them, so there is one instance per lock file per process (`shared(path:)`), its
/// descriptor stays open, and an in-process mutex orders this process's own threads first.
final class StoreLock: @unchecked Sendable {
    // @unchecked: `fd` is only touched while `mutex` is held.
    private let path: String
    private let mutex = NSLock()
    private var fd: Int32 = -1

    private init(path: String) { self.path = path }

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var instances: [String: StoreLock] = [:]

    static func shared(path: String) -> StoreLock {
        registryLock.lock(); defer { registryLock.unlock() }
        if let lock = instances[path] { return lock }
        let lock = StoreLock(path: path)
        instances[path] = lock
        return lock
    }

    /// Runs `body` holding the lock against this process's other threads and every other
    /// process (replica) using the same directory. Waits as long as the holder needs.
    func withLock<T>(_ body: () throws(ServiceError) -> T) throws(ServiceError) -> T {
        mutex.lock(); defer { mutex.unlock() }
        if fd < 0 {
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw ServiceError(.internalFailure, "storage_error", "cannot open the store lock \(path): \(String(cString: strerror(errno)))")
            }
        }
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = 0
        request.l_len = 0  // the whole file
        while fcntl(fd, F_SETLKW, &request) != 0 {
            let code = errno
            guard code == EINTR else {
                throw ServiceError(.internalFailure, "storage_error", "cannot lock the store \(path): \(String(cString: strerror(code))) (the adapters volume must support POSIX locks, e.g. NFSv4)")
            }
        }
        defer {
            var release = flock()
            release.l_type = Int16(F_UNLCK)
            release.l_whence = Int16(SEEK_SET)
            _ = fcntl(fd, F_SETLK, &release)
        }
        return try body()
    }
}

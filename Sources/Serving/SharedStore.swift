import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What lets several replicas share one adapters directory (a ReadWriteMany volume, usually
/// NFS): every change is made under the store's writer lock (`StoreLock`) and announced by
/// bumping a generation marker, a small file other replicas poll (inotify does not see what
/// other NFS clients change). The marker is bumped both before and after a change (a seqlock),
/// so a reader that finds the same marker before and after reading knows no change overlapped
/// its read, without holding the lock while it reads adapter weights.
extension AdapterStore {
    var lockFile: URL { stateDir.appendingPathComponent("lock") }
    var generationFile: URL { stateDir.appendingPathComponent("generation") }
    var writerLock: StoreLock { StoreLock.shared(path: lockFile.standardizedFileURL.path) }

    /// Runs `body` under the writer lock shared by every replica of this directory.
    public func locked<T>(_ body: () throws(ServiceError) -> T) throws(ServiceError) -> T {
        try writerLock.withLock(body)
    }

    /// For a change made while holding `locked`: bumps the marker, runs `body`, bumps it again,
    /// and returns the final generation. If `body` fails the marker has still moved, which only
    /// makes the other replicas re-read a store that did not change.
    public func announcing(_ body: () throws(ServiceError) -> Void) throws(ServiceError) -> UInt64 {
        _ = try bumpGeneration()
        try body()
        return try bumpGeneration()
    }

    /// The marker's text ("<counter> <random token>"), nil before the first change. Opening the
    /// file each time gets NFS close-to-open consistency, so a poll sees the latest marker.
    public func generationMarker() -> String? {
        try? String(contentsOf: generationFile, encoding: .utf8)
    }

    static func generationCounter(_ marker: String?) -> UInt64 {
        marker?.split(separator: " ").first.flatMap { UInt64($0) } ?? 0
    }

    /// Writes the next marker with write-then-rename, so a reader sees the old or the new one.
    func bumpGeneration() throws(ServiceError) -> UInt64 {
        let next = Self.generationCounter(generationMarker()) + 1
        let tmp = tmpDir.appendingPathComponent("generation-\(UUID().uuidString)")
        do { try Self.writeSynced(Data("\(next) \(UUID().uuidString)\n".utf8), to: tmp) } catch {
            throw ServiceError(.internalFailure, "storage_error", "could not write the store generation marker: \(error)")
        }
        guard rename(tmp.path, generationFile.path) == 0 else {
            let code = errno
            unlink(tmp.path)
            throw ServiceError(.internalFailure, "storage_error", "could not write the store generation marker: \(String(cString: strerror(code)))")
        }
        return next
    }

    /// Every entry of the adapters directory except our own folder: a change here that no
    /// marker announced (an adapter copied in by hand) also makes the replicas look again.
    public func listing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0 != Self.reservedName }.sorted()
    }

    /// The store as one consistent moment, read under the writer lock (names, their recorded
    /// SHA-256 and creation time, routes); the weights themselves are read later, outside it.
    public struct Snapshot: Sendable {
        public let marker: String?
        public let listing: [String]
        /// Stored adapters with the SHA-256 their metadata records (nil: no metadata).
        public let adapters: [String: String?]
        public let createdAt: [String: String]
        public let routes: RoutesReading
        public var generation: UInt64 { AdapterStore.generationCounter(marker) }
    }

    public func snapshot() throws(ServiceError) -> Snapshot {
        try locked { () throws(ServiceError) -> Snapshot in
            var adapters: [String: String?] = [:]
            var created: [String: String] = [:]
            for name in storedNames() {
                let meta = readMetadata(name).flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
                adapters[name] = meta?["sha256"] as? String
                if let c = meta?["created_at"] as? String { created[name] = c }
            }
            return Snapshot(marker: generationMarker(), listing: listing(), adapters: adapters, createdAt: created, routes: readRoutes())
        }
    }

    /// The routes on disk as a writer merges into them: only routes whose adapter is still
    /// stored survive (a route to a removed adapter leaves the file at the next route change).
    func currentRoutes() -> [String: String] {
        readRoutes().routes.filter { (try? exists($0.value)) == true }
    }
}

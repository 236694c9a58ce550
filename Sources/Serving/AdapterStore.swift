import Foundation
import Adapters
#if canImport(Glibc)
import Glibc
#endif

/// Adapters on disk, one PEFT directory per name under the adapters directory, written so that
/// a crash at any point leaves either the old adapter or the new one, never a torn mix:
/// files go to a private temporary folder, are fsynced, and the folder is renamed into place.
public struct AdapterStore: Sendable {
    public let root: URL
    /// Our own bookkeeping lives here; no adapter may take this name.
    public static let reservedName = ".adapter-serve"
    var stateDir: URL { root.appendingPathComponent(Self.reservedName) }
    var tmpDir: URL { stateDir.appendingPathComponent("tmp") }
    var routesFile: URL { stateDir.appendingPathComponent("routes.json") }

    public init(root: URL) throws(ServiceError) {
        self.root = root
        do {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(Self.reservedName).appendingPathComponent("tmp"),
                                                    withIntermediateDirectories: true)
        } catch {
            throw ServiceError(.internalFailure, "storage_error", "cannot create the adapters directory \(root.path): \(error.localizedDescription)")
        }
    }

    /// Adapter names: [A-Za-z0-9._-]{1,64} starting with a letter or digit, so no name can be
    /// ".", "..", a path, or a hidden folder such as our own `.adapter-serve`.
    public static func validateName(_ name: String) throws(ServiceError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy({ allowed.contains($0) }),
              let first = name.first, first.isASCII, first.isLetter || first.isNumber else {
            throw ServiceError(.invalidRequest, "invalid_name", "adapter names are 1-64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit; got \"\(name.prefix(80))\"")
        }
    }

    /// The one gate every operation on a named adapter passes (put, get, delete, activate,
    /// routes, start-up loading): the name rule, then the resolved path must lie directly inside
    /// the adapters directory and must not be a symbolic link, so no request can reach a file
    /// outside it, whatever the name or the directory's contents.
    public func directory(for name: String) throws(ServiceError) -> URL {
        try Self.validateName(name)
        let url = root.appendingPathComponent(name, isDirectory: true)
        guard url.deletingLastPathComponent().standardizedFileURL.path == root.standardizedFileURL.path,
              url.lastPathComponent == name else {
            throw ServiceError(.invalidRequest, "invalid_name", "adapter name \"\(name)\" does not resolve inside the adapters directory")
        }
        var info = stat()
        if lstat(url.path, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            let what = (info.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link" : "not a directory"
            throw ServiceError(.conflict, "unsafe_adapter_path", "\(url.path) is \(what); AdapterServe never follows, loads or deletes links or stray files in the adapters directory (remove it by hand)")
        }
        return url
    }

    /// True when `name` is a valid name with a real directory (not a link) in the store.
    public func exists(_ name: String) throws(ServiceError) -> Bool {
        let url = try directory(for: name)
        var info = stat()
        return lstat(url.path, &info) == 0
    }

    /// Entries that look like adapters (have adapter_config.json), links included so that
    /// start-up can report them as refused rather than pass over them in silence.
    public func storedNames() -> [String] {
        let items = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return items.filter { $0 != Self.reservedName && FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent(PEFTAdapter.configFile).path) }.sorted()
    }

    /// An adapter's files written and fsynced in a private staging folder.
    public struct Staged: Sendable {
        let url: URL
    }

    /// Writes the adapter's files and metadata, then moves them into place in one rename
    /// (an atomic exchange when replacing).
    public func store(name: String, files: [String: Data], metadata: Data) throws(ServiceError) {
        _ = try directory(for: name)
        let staged = try stage(files: files, metadata: metadata)
        do { try commit(staged, as: name) } catch {
            discard(staged)
            throw error
        }
    }

    /// The slow half of storing (writes and fsyncs), safe to run on any thread.
    public func stage(files: [String: Data], metadata: Data) throws(ServiceError) -> Staged {
        let fm = FileManager.default
        let staging = tmpDir.appendingPathComponent("upload-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            for (file, data) in files { try Self.writeSynced(data, to: staging.appendingPathComponent(file)) }
            try Self.writeSynced(metadata, to: staging.appendingPathComponent(Self.metadataFile))
            Self.fsyncPath(staging.path)
        } catch {
            try? fm.removeItem(at: staging)
            throw ServiceError(.internalFailure, "storage_error", "could not write the adapter: \(error.localizedDescription)")
        }
        return Staged(url: staging)
    }

    /// Removes a staged adapter that will not be committed.
    public func discard(_ staged: Staged) {
        try? FileManager.default.removeItem(at: staged.url)
    }

    /// The quick half: renames the staged folder into place (two renames when replacing).
    public func commit(_ staged: Staged, as name: String) throws(ServiceError) {
        let target = try directory(for: name)
        let fm = FileManager.default
        let staging = staged.url
        if try exists(name) {
            // Two renames: the old version is set aside under a name that start-up recovery
            // recognises, so a crash between them restores it rather than losing the adapter.
            let aside = tmpDir.appendingPathComponent("replaced-\(UUID().uuidString)-\(name)")
            guard rename(target.path, aside.path) == 0 else {
                let code = errno
                try? fm.removeItem(at: staging)
                throw ServiceError(.internalFailure, "storage_error", "could not replace adapter '\(name)': \(String(cString: strerror(code)))")
            }
            guard rename(staging.path, target.path) == 0 else {
                let code = errno
                _ = rename(aside.path, target.path)
                try? fm.removeItem(at: staging)
                throw ServiceError(.internalFailure, "storage_error", "could not replace adapter '\(name)': \(String(cString: strerror(code)))")
            }
            Self.fsyncPath(root.path)
            try? fm.removeItem(at: aside)
        } else if rename(staging.path, target.path) != 0 {
            let code = errno
            try? fm.removeItem(at: staging)
            throw ServiceError(.internalFailure, "storage_error", "could not store adapter '\(name)': \(String(cString: strerror(code)))")
        }
        Self.fsyncPath(root.path)
    }

    /// Moves the adapter out of the way in one rename, then deletes it.
    public func delete(_ name: String) throws(ServiceError) {
        let source = try directory(for: name)
        let trash = tmpDir.appendingPathComponent("deleted-\(UUID().uuidString)")
        guard rename(source.path, trash.path) == 0 else {
            throw ServiceError(.internalFailure, "storage_error", "could not delete adapter '\(name)': \(String(cString: strerror(errno)))")
        }
        Self.fsyncPath(root.path)
        try? FileManager.default.removeItem(at: trash)
    }

    /// Recovers from a crash mid-change, under the writer lock: a replaced adapter whose new
    /// version never landed is put back (an aside exists only inside the lock, so one found
    /// here is a crash's leftover). Other leftovers (incomplete uploads, deletions) are removed
    /// at once, except uploads being staged (outside the lock), which wait until they are an hour old:
    /// a younger one may belong to another replica.
    public func recoverStaging() {
        let fm = FileManager.default
        _ = try? locked { () throws(ServiceError) in
            for item in ((try? fm.contentsOfDirectory(atPath: tmpDir.path)) ?? []).sorted() {
                let path = tmpDir.appendingPathComponent(item)
                if item.hasPrefix("replaced-"), item.count > 46 {
                    let name = String(item.dropFirst("replaced-".count + 37))
                    if let target = try? directory(for: name), (try? exists(name)) == false {
                        _ = rename(path.path, target.path)
                        continue
                    }
                    try? fm.removeItem(at: path)
                    continue
                }
                var info = stat()
                if item.hasPrefix("upload-"), lstat(path.path, &info) == 0,
                   Double(time(nil) - info.st_mtim.tv_sec) < Self.staleStagingSeconds { continue }
                try? fm.removeItem(at: path)
            }
        }
    }

    /// Age after which a staging leftover cannot belong to an upload still in progress.
    static let staleStagingSeconds: Double = 3600

    public static let metadataFile = "adapterserve.json"

    public func readMetadata(_ name: String) -> Data? {
        guard let dir = try? directory(for: name) else { return nil }
        return try? Data(contentsOf: dir.appendingPathComponent(Self.metadataFile))
    }

    var routesBackup: URL { stateDir.appendingPathComponent("routes.json.bak") }

    /// What start-up found in the routes file: the routes, where they came from, and every
    /// problem met on the way, so that none is passed over in silence.
    public struct RoutesReading: Sendable, Equatable {
        public enum Source: String, Sendable { case none, primary, backup }
        public var routes: [String: String] = [:]
        public var source: Source = .none
        public var problems: [String] = []
        /// Neither the routes file nor its backup could be read: every route is unknown.
        public var unreadable: Bool { source == .none && !problems.isEmpty }
    }

    /// Reads routes.json, falling back to the backup the previous write left when the file is
    /// missing or damaged (truncated, not JSON, wrong shape).
    public func readRoutes() -> RoutesReading {
        var reading = RoutesReading()
        let primary = Self.parseRoutes(at: routesFile)
        let backup = Self.parseRoutes(at: routesBackup)
        switch primary {
        case .success(let routes?):
            reading.routes = routes
            reading.source = .primary
            return reading
        case .success(nil):
            if case .success(nil) = backup { return reading }
            reading.problems.append("\(routesFile.path) is missing")
        case .failure(let problem):
            reading.problems.append(problem.description)
        }
        switch backup {
        case .success(let routes?):
            reading.routes = routes
            reading.source = .backup
            reading.problems.append("task routes restored from the backup \(routesBackup.path) (\(routes.count) route(s))")
        case .success(nil):
            reading.problems.append("no backup \(routesBackup.path): every task route is lost until tasks are activated again")
        case .failure(let problem):
            reading.problems.append("the backup is damaged too: \(problem.description); every task route is lost until tasks are activated again")
        }
        return reading
    }

    /// nil when the file does not exist; a message naming the file when it cannot be used.
    static func parseRoutes(at url: URL) -> Result<[String: String]?, RoutesProblem> {
        guard FileManager.default.fileExists(atPath: url.path) else { return .success(nil) }
        guard let data = try? Data(contentsOf: url) else { return .failure(RoutesProblem("\(url.path) cannot be read")) }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let tasks = json["tasks"] as? [String: String] else {
            return .failure(RoutesProblem("\(url.path) is damaged (\(data.count) bytes, not a JSON object with a \"tasks\" map of task to adapter name)"))
        }
        return .success(tasks)
    }

    struct RoutesProblem: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// Writes routes.json atomically (temporary file, fsync, rename) after keeping the current
    /// version as routes.json.bak (a hard link, so the backup is always a complete file).
    public func writeRoutes(_ routes: [String: String]) throws(ServiceError) {
        do {
            let data = try JSONSerialization.data(withJSONObject: ["tasks": routes], options: [.sortedKeys, .prettyPrinted])
            let tmp = tmpDir.appendingPathComponent("routes-\(UUID().uuidString).json")
            try Self.writeSynced(data, to: tmp)
            if case .success(_?) = Self.parseRoutes(at: routesFile) {
                let link = tmpDir.appendingPathComponent("routes-backup-\(UUID().uuidString).json")
                if Glibc.link(routesFile.path, link.path) == 0, rename(link.path, routesBackup.path) != 0 {
                    unlink(link.path)
                }
            }
            guard rename(tmp.path, routesFile.path) == 0 else {
                let code = errno
                unlink(tmp.path)
                throw ServiceError(.internalFailure, "storage_error", "could not save task routes: \(String(cString: strerror(code)))")
            }
            Self.fsyncPath(stateDir.path)
        } catch let e as ServiceError {
            throw e
        } catch {
            throw ServiceError(.internalFailure, "storage_error", "could not save task routes: \(error.localizedDescription)")
        }
    }

    static func writeSynced(_ data: Data, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: data) else {
            throw ServiceError(.internalFailure, "storage_error", "cannot write \(url.path)")
        }
        fsyncPath(url.path)
    }

    static func fsyncPath(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The pull's own bookkeeping inside a target directory, all under `.hub/`:
/// `incomplete/` holds partial downloads (named by expected hash), and `manifest.json` records
/// which repository, revision and commit each finished file came from, with its size and
/// hash. The manifest is what lets a later run skip finished files and lets HF_HUB_OFFLINE
/// say "complete" without asking the Hub.
enum PullLayout {
    static func stateDir(_ dir: URL) -> URL { dir.appendingPathComponent(".hub") }
    static func incompleteDir(_ dir: URL) -> URL { stateDir(dir).appendingPathComponent("incomplete") }
    static func manifestFile(_ dir: URL) -> URL { stateDir(dir).appendingPathComponent("manifest.json") }

    static func fsync(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = Glibc.fsync(fd)
        close(fd)
    }
}

/// What `.hub/manifest.json` holds.
struct PullManifest: Codable, Equatable {
    struct Entry: Codable, Equatable {
        var size: Int64
        var hash: ExpectedHash
    }
    var repo: String
    var revision: String
    var commit: String
    /// The files this pull wanted (all must be present for the directory to be complete).
    var wanted: [String]
    var files: [String: Entry]

    static func read(_ dir: URL) -> PullManifest? {
        guard let data = try? Data(contentsOf: PullLayout.manifestFile(dir)) else { return nil }
        return try? JSONDecoder().decode(PullManifest.self, from: data)
    }

    /// Written to a temporary name and renamed, so a crash leaves the old or the new manifest.
    func write(_ dir: URL) throws(HubError) {
        let target = PullLayout.manifestFile(dir)
        let tmp = PullLayout.stateDir(dir).appendingPathComponent("manifest-\(UUID().uuidString).json")
        do {
            try FileManager.default.createDirectory(at: PullLayout.stateDir(dir), withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(self).write(to: tmp)
        } catch {
            throw HubError(.io, "cannot write \(target.path): \(error.localizedDescription)")
        }
        PullLayout.fsync(tmp.path)
        guard rename(tmp.path, target.path) == 0 else {
            try? FileManager.default.removeItem(at: tmp)
            throw HubError(.io, "cannot write \(target.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Files of `wanted` missing or not at their recorded size (empty when complete).
    func missing(in dir: URL) -> [String] {
        wanted.filter { name in
            guard let entry = files[name] else { return true }
            return FileDownload.size(of: dir.appendingPathComponent(name).path) != entry.size
        }
    }
}

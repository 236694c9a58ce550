import Foundation
import Adapters

/// What one re-read of the shared store found, applied on the engine thread as a state change
/// (`StateChange.sync`) in queue order with generations, like a local upload or activation:
/// requests admitted before it keep the adapter they resolved, later ones see the new state.
public struct StoreSync: Sendable {
    /// The store generation the read saw (older than this replica's own last change: not applied).
    let generation: UInt64
    /// New or replaced adapters, read and validated off the engine thread.
    let loaded: [String: LoadedAdapter]
    /// Every adapter name stored on disk, readable or not; registered names not here were deleted.
    let stored: Set<String>
    let routes: [String: String]
    let routesUnreadable: Bool
    /// Damaged adapters (skipped, never deleted) and routes-file problems, for /readyz.
    let problems: [String]

    struct LoadedAdapter: Sendable {
        let adapter: PEFTAdapter
        let directory: URL
        let createdAt: String
    }
}

/// Polls the store's generation marker (and its listing, for adapters copied in by hand) on a
/// thread of its own; when either changed it reads the store and hands the result to the
/// engine. Polling, not inotify: inotify does not see what other NFS clients change.
final class StoreWatcher: @unchecked Sendable {
    // @unchecked: `stopping` is guarded by `condition`; the marks are used by the one thread.
    private weak var service: AdapterServeService?
    private let interval: Double
    private let condition = NSCondition()
    private var stopping = false
    private var lastMarker: String??
    private var lastListing: [String]?

    init(service: AdapterServeService, interval: Double) {
        self.service = service
        self.interval = interval
    }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "adapter-serve-store-watcher"
        t.start()
    }

    func stop() {
        condition.lock(); stopping = true; condition.broadcast(); condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            let until = Date().addingTimeInterval(interval)
            while !stopping && Date() < until { _ = condition.wait(until: until) }
            let stop = stopping
            condition.unlock()
            guard !stop, let service else { return }
            poll(service)
        }
    }

    private func poll(_ service: AdapterServeService) {
        let marker = service.store.generationMarker()
        let listing = service.store.listing()
        guard lastMarker == nil || lastMarker! != marker || lastListing != listing else { return }
        // nil: a change overlapped the read; the marker has moved, so the next poll reads again.
        guard let (sync, snapshot) = read(service) else { return }
        do {
            try service.engine.apply(.sync(sync))
            lastMarker = .some(snapshot.marker)
            lastListing = snapshot.listing
        } catch {
            // Stale (this replica changed the store since) or draining: read again next poll.
        }
    }

    /// Reads what changed: names and routes under the lock, then the weights of new or
    /// replaced adapters without it, checking afterwards that no change overlapped (seqlock).
    private func read(_ service: AdapterServeService) -> (StoreSync, AdapterStore.Snapshot)? {
        let store = service.store
        guard let snapshot = try? store.snapshot() else { return nil }
        var loaded: [String: StoreSync.LoadedAdapter] = [:]
        var problems = snapshot.routes.problems
        for (name, sha) in snapshot.adapters.sorted(by: { $0.key < $1.key }) {
            if let known = service.registry.summary(name), sha == nil || known.info.sha256 == sha { continue }
            do {
                let directory = try store.directory(for: name)
                let adapter = try PEFTAdapter.load(directory: directory, base: service.model)
                loaded[name] = .init(adapter: adapter, directory: directory,
                                     createdAt: snapshot.createdAt[name] ?? AdapterServeService.timestamp())
            } catch {
                problems.append("adapter '\(name)' was not loaded: \(error)")
            }
        }
        guard store.generationMarker() == snapshot.marker else { return nil }
        let sync = StoreSync(generation: snapshot.generation, loaded: loaded, stored: Set(snapshot.adapters.keys),
                             routes: snapshot.routes.routes, routesUnreadable: snapshot.routes.unreadable, problems: problems)
        return (sync, snapshot)
    }
}

extension AdapterServeService {
    /// Records the generation of this replica's own change, so an older re-read is not applied.
    func noteGeneration(_ generation: UInt64) {
        lock.lock(); storeGeneration = max(storeGeneration, generation); lock.unlock()
    }

    /// Reads an evicted adapter back (loader thread, activation) under the writer lock, so that
    /// another replica cannot be half way through replacing it: the config and the weights
    /// read are always one version's.
    func reloadLocked(_ name: String) throws(ServiceError) {
        try store.locked { () throws(ServiceError) in
            do throws(AdapterError) { try registry.load(name) } catch {
                throw error.code == "adapter_not_found" ? .notFound(error.code, error.message) : ServiceError(.internalFailure, error.code, error.message)
            }
        }
    }

    /// Reads an adapter another replica stored that this one has not adopted yet (an activation
    /// right after an upload through another replica), under the writer lock so that no
    /// replacement can be half done while it is read. False when the store does not have it.
    func adoptStored(_ name: String) throws(ServiceError) -> Bool {
        try store.locked { () throws(ServiceError) -> Bool in
            guard try store.exists(name) else { return false }
            let directory = try store.directory(for: name)
            do throws(AdapterError) {
                let adapter = try PEFTAdapter.load(directory: directory, base: model)
                try registry.register(name, adapter: adapter, source: directory)
            } catch {
                throw ServiceError(.internalFailure, error.code, "adapter '\(name)' is stored but cannot be read: \(error.message)")
            }
            // A re-read older than this one would not have the adapter: it must not be applied.
            noteGeneration(AdapterStore.generationCounter(store.generationMarker()))
            let created = Self.storedCreatedAt(store.readMetadata(name)) ?? Self.timestamp()
            lock.lock(); createdAt[name] = created; lock.unlock()
            logger.info("adopted adapter stored by another replica", metadata: ["adapter": "\(name)"])
            return true
        }
    }

    /// Adopts a re-read of the shared store, on the engine thread. Damaged adapters stay on
    /// disk and out of the registry (or keep their last good version) and are reported.
    func applySync(_ s: StoreSync) throws(ServiceError) {
        lock.lock(); let own = storeGeneration; lock.unlock()
        guard s.generation >= own else {
            throw ServiceError(.conflict, "stale_store_read", "the store changed since it was read (generation \(s.generation) < \(own))")
        }
        var problems = s.problems
        var added: [String] = []
        for (name, l) in s.loaded.sorted(by: { $0.key < $1.key }) {
            do throws(AdapterError) {
                try registry.register(name, adapter: l.adapter, source: l.directory)
                added.append(name)
            } catch {
                problems.append("adapter '\(name)' was not loaded: \(error.message)")
            }
        }
        var removed: [String] = []
        for summary in registry.list() where !s.stored.contains(summary.name) {
            registry.remove(summary.name)
            removed.append(summary.name)
        }
        for name in added + removed { combinations.drop(member: name) }   // replaced or deleted by another replica
        var routes: [String: String] = [:]
        for (task, name) in s.routes.sorted(by: { $0.key < $1.key }) {
            if registry.summary(name) != nil { routes[task] = name } else {
                problems.append("task '\(task)' routes to adapter '\(name)', which is not loaded; the route is not served and leaves the routes file at the next route change")
            }
        }
        for summary in registry.list() { registry.setPinned(summary.name, routes.values.contains(summary.name)) }
        lock.lock()
        let changedRoutes = self.routes != routes
        self.routes = routes
        for name in added { createdAt[name] = s.loaded[name]?.createdAt }
        for name in removed { createdAt.removeValue(forKey: name) }
        self.problems = problems
        routesLost = s.routesUnreadable
        storeGeneration = max(storeGeneration, s.generation)
        lock.unlock()
        if !added.isEmpty || !removed.isEmpty || changedRoutes {
            logger.info("adopted shared store changes", metadata: [
                "generation": "\(s.generation)", "stored": "\(added)", "deleted": "\(removed)", "tasks": "\(routes.count)",
            ])
        }
    }
}

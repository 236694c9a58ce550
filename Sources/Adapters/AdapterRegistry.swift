import Foundation
import T5

/// The adapters the engine knows, by name: which are resident, which are pinned, and how much
/// memory they take. Requests hold their adapter's weights by strong reference for their whole
/// life, so unloading or replacing a name never changes what an in-flight request computes;
/// the old weights are freed when the last request using them finishes.
public final class AdapterRegistry: @unchecked Sendable {
    public struct Summary: Sendable, Equatable {
        public let name: String
        public let info: AdapterInfo
        public let loaded: Bool
        public let pinned: Bool
    }

    private struct Entry {
        var info: AdapterInfo
        var source: URL?
        var adapter: PEFTAdapter?
        var pinned: Bool
        var lastUsed: UInt64
    }

    public let base: T5ForConditionalGeneration
    /// Resident adapter bytes allowed before least-recently-used, unpinned adapters are evicted.
    public let budgetBytes: Int
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private let lock = NSLock()
    public private(set) var loads = 0
    public private(set) var evictions = 0

    public init(base: T5ForConditionalGeneration, budgetBytes: Int = 2 << 30) {
        self.base = base
        self.budgetBytes = budgetBytes
    }

    /// Adds or replaces `name` with an already validated adapter. `source` is where it can be
    /// re-read from after an eviction (nil: it can never be evicted).
    public func register(_ name: String, adapter: PEFTAdapter, source: URL?, pinned: Bool = false) throws(AdapterError) {
        lock.lock(); defer { lock.unlock() }
        let keepPinned = entries[name]?.pinned ?? false
        let previous = entries.removeValue(forKey: name)
        do {
            try makeRoom(for: adapter.info.bytes)
        } catch {
            if let previous { entries[name] = previous }
            throw error
        }
        clock += 1
        entries[name] = Entry(info: adapter.info, source: source, adapter: adapter, pinned: pinned || keepPinned, lastUsed: clock)
        loads += 1
    }

    /// Records an adapter stored on disk without loading it yet (start-up with many adapters).
    public func registerLazily(_ name: String, info: AdapterInfo, source: URL) {
        lock.lock(); defer { lock.unlock() }
        entries[name] = Entry(info: info, source: source, adapter: nil, pinned: false, lastUsed: 0)
    }

    /// What the registry holds for a name, without touching the disk.
    public enum Lookup: Sendable {
        case resident(PEFTAdapter)
        /// Known but evicted (or registered lazily): `load` brings it back.
        case evicted
        case missing
    }

    /// The adapter if it is in memory (counted as a use for eviction order). Never reads the
    /// disk, so the engine thread can call it between decoder steps.
    public func lookup(_ name: String) -> Lookup {
        lock.lock(); defer { lock.unlock() }
        guard var entry = entries[name] else { return .missing }
        guard let adapter = entry.adapter else { return entry.source == nil ? .missing : .evicted }
        clock += 1
        entry.lastUsed = clock
        entries[name] = entry
        return .resident(adapter)
    }

    /// Brings an evicted adapter back from disk. The read, parse and SHA-256 run without the
    /// registry lock (on the caller's thread: the service's loader thread), so requests being
    /// decoded never wait for a disk read; only installing the result takes the lock. If the
    /// name was replaced or removed meanwhile, what is registered now wins.
    public func load(_ name: String) throws(AdapterError) {
        lock.lock()
        guard let entry = entries[name] else { lock.unlock(); throw AdapterError("adapter_not_found", "no adapter named '\(name)'") }
        guard entry.adapter == nil, let source = entry.source else { lock.unlock(); return }
        lock.unlock()
        let adapter = try PEFTAdapter.load(directory: source, base: base)
        lock.lock(); defer { lock.unlock() }
        guard var current = entries[name], current.adapter == nil, current.source == source else { return }
        entries.removeValue(forKey: name)
        do { try makeRoom(for: adapter.info.bytes) } catch { entries[name] = current; throw error }
        clock += 1
        current.adapter = adapter
        current.info = adapter.info
        current.lastUsed = clock
        entries[name] = current
        loads += 1
    }

    /// The adapter for a request, loading it back from disk if it was evicted (blocking: for
    /// tools and tests; the engine uses `lookup` and a loader thread instead).
    public func acquire(_ name: String) throws(AdapterError) -> PEFTAdapter {
        lock.lock(); defer { lock.unlock() }
        guard var entry = entries[name] else { throw AdapterError("adapter_not_found", "no adapter named '\(name)'") }
        clock += 1
        entry.lastUsed = clock
        if let adapter = entry.adapter {
            entries[name] = entry
            return adapter
        }
        guard let source = entry.source else { throw AdapterError("adapter_not_found", "adapter '\(name)' is not loaded") }
        let adapter = try PEFTAdapter.load(directory: source, base: base)
        entries.removeValue(forKey: name)
        do { try makeRoom(for: adapter.info.bytes) } catch { entries[name] = entry; throw error }
        entry.adapter = adapter
        entry.info = adapter.info
        entries[name] = entry
        loads += 1
        return adapter
    }

    public func setPinned(_ name: String, _ pinned: Bool) {
        lock.lock(); defer { lock.unlock() }
        entries[name]?.pinned = pinned
    }

    /// Forgets `name` entirely. In-flight requests keep the weights they hold.
    @discardableResult
    public func remove(_ name: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return entries.removeValue(forKey: name) != nil
    }

    /// Drops the weights from memory but keeps the name (it reloads on next use).
    @discardableResult
    public func unload(_ name: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard entries[name]?.adapter != nil, entries[name]?.source != nil else { return false }
        entries[name]?.adapter = nil
        return true
    }

    public func summary(_ name: String) -> Summary? {
        lock.lock(); defer { lock.unlock() }
        return entries[name].map { Summary(name: name, info: $0.info, loaded: $0.adapter != nil, pinned: $0.pinned) }
    }

    public func list() -> [Summary] {
        lock.lock(); defer { lock.unlock() }
        return entries.keys.sorted().map { n in
            let e = entries[n]!
            return Summary(name: n, info: e.info, loaded: e.adapter != nil, pinned: e.pinned)
        }
    }

    public var loadedBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return residentBytes
    }

    private var residentBytes: Int { entries.values.reduce(0) { $0 + ($1.adapter == nil ? 0 : $1.info.bytes) } }

    /// Evicts least-recently-used unpinned, reloadable adapters until `bytes` more fit.
    private func makeRoom(for bytes: Int) throws(AdapterError) {
        var resident = residentBytes
        guard resident + bytes > budgetBytes else { return }
        let victims = entries.filter { $0.value.adapter != nil && !$0.value.pinned && $0.value.source != nil }
            .sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (name, entry) in victims where resident + bytes > budgetBytes {
            entries[name]?.adapter = nil
            resident -= entry.info.bytes
            evictions += 1
        }
        guard resident + bytes <= budgetBytes else {
            throw AdapterError("adapter_budget_exceeded", "adapter needs \(bytes) bytes but only \(max(0, budgetBytes - resident)) of the \(budgetBytes)-byte adapter budget can be freed (the rest is pinned)")
        }
    }
}

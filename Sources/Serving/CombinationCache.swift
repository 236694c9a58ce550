import Foundation
import Adapters
import T5

/// Combined LoRAs built for requests (`RequestCombination`), kept so that repeating a
/// combination costs a dictionary lookup instead of re-stacking every member's A and B.
/// Keyed by the canonical members and each member's SHA-256, so a replaced member can never
/// serve its old weights; `drop(member:)` frees entries as soon as a member is replaced or
/// deleted. Least recently used entries go first past `maxEntries` or `maxBytes`. The cache
/// sits outside the adapter budget (the members themselves are counted there); in-flight
/// requests hold their combined weights by reference, so dropping an entry never changes
/// what they compute.
final class CombinationCache: @unchecked Sendable {
    struct Key: Hashable {
        let members: [CombinationMember]   // canonical (name) order
        let sha256: [String]               // of each member, same order
    }

    private struct Entry {
        let weights: AdapterWeights
        let bytes: Int
        var lastUsed: UInt64
    }

    let maxEntries: Int
    let maxBytes: Int
    private var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0
    private let lock = NSLock()
    /// Combinations built (cache misses) since start: tests read it to see a repeat is free.
    private(set) var builds = 0

    init(maxEntries: Int = 32, maxBytes: Int = 256 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    /// The cached weights for `key`, else `build()`'s, cached when they fit.
    func weights(for key: Key, build: () throws(AdapterError) -> AdapterWeights) throws(AdapterError) -> AdapterWeights {
        lock.lock()
        clock += 1
        if var hit = entries[key] {
            hit.lastUsed = clock
            entries[key] = hit
            lock.unlock()
            return hit.weights
        }
        lock.unlock()
        let built = try build()
        let bytes = RequestCombination.bytes(built)
        lock.lock(); defer { lock.unlock() }
        builds += 1
        guard bytes <= maxBytes else { return built }
        entries[key] = Entry(weights: built, bytes: bytes, lastUsed: clock)
        while entries.count > maxEntries || entries.values.reduce(0, { $0 + $1.bytes }) > maxBytes,
              let oldest = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
            entries.removeValue(forKey: oldest)
        }
        return built
    }

    /// Forgets every combination that has `name` as a member (it was replaced or deleted).
    func drop(member name: String) {
        lock.lock(); defer { lock.unlock() }
        entries = entries.filter { !$0.key.members.contains { $0.name == name } }
    }

    var count: Int {
        lock.lock(); defer { lock.unlock() }
        return entries.count
    }
}

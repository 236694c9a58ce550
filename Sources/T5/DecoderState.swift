import Numerics

/// The encoder's result for one request, kept for its whole generation: the cross-attention
/// keys/values of every decoder layer, computed once (with the request's adapter), stored in
/// the cache format that goes with the weights (`KVRows.Format(weights:)`).
public final class EncodedSequence: Sendable {
    public let adapter: AdapterWeights?
    /// Encoder positions, soft-prompt rows included.
    public let length: Int
    public let crossKeys: [KVRows]     // per decoder layer: (length, inner)
    public let crossValues: [KVRows]   // per decoder layer: (length, inner)

    init(adapter: AdapterWeights?, length: Int, crossKeys: [KVRows], crossValues: [KVRows]) {
        self.adapter = adapter
        self.length = length
        self.crossKeys = crossKeys
        self.crossValues = crossValues
    }
}

/// One decoding hypothesis: its self-attention KV cache and the encoder result it reads.
/// A value type: beam search forks a hypothesis by copying it, and Swift's copy-on-write
/// duplicates a layer's cache only when a fork appends to it.
public struct DecoderState: Sendable {
    public let encoded: EncodedSequence
    public internal(set) var selfKeys: [[Float]]     // per decoder layer: (length, inner)
    public internal(set) var selfValues: [[Float]]   // per decoder layer: (length, inner)
    /// Decoder tokens already fed (the position of the next one).
    public internal(set) var length: Int = 0

    /// Drops this copy's references to the caches (see `GenerationTask.takePending`).
    mutating func releaseCaches() {
        selfKeys = []
        selfValues = []
    }

    public init(encoded: EncodedSequence, layers: Int, reserve: Int = 0, inner: Int = 0) {
        self.encoded = encoded
        var empty = [Float]()
        empty.reserveCapacity(reserve * inner)
        selfKeys = Array(repeating: empty, count: layers)
        selfValues = Array(repeating: empty, count: layers)
        // Prefix tuning: the prefix is the cache's first positions (AdapterMethods.swift).
        if let prefix = encoded.adapter?.prefix {
            for l in 0..<layers {
                selfKeys[l].append(contentsOf: prefix.keys[l])
                selfValues[l].append(contentsOf: prefix.values[l])
            }
            length = prefix.length
        }
    }
}

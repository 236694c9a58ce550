import Foundation

/// T5's relative position buckets, computed exactly as transformers does in float32: half the
/// buckets are exact offsets, the rest logarithmic up to `maxDistance`. The float32 order of
/// operations matters: at offsets like 16/32/64 the log ratio lands exactly on an integer.
public func relativePositionBucket(_ relativePosition: Int, bidirectional: Bool,
                                   numBuckets: Int, maxDistance: Int) -> Int {
    var buckets = numBuckets
    var bucket = 0
    var rp = relativePosition
    if bidirectional {
        buckets /= 2
        if rp > 0 { bucket += buckets }
        rp = abs(rp)
    } else {
        rp = -min(rp, 0)
    }
    let maxExact = buckets / 2
    if rp < maxExact { return bucket + rp }
    let ratio = logf(Float(rp) / Float(maxExact))
    let denominator = Float(log(Double(maxDistance) / Double(maxExact)))
    let large = maxExact + Int(ratio / denominator * Float(buckets - maxExact))
    return bucket + min(large, buckets - 1)
}

/// Position bias for one attention call: bias[h][i][j] = table[bucket(j - (i + queryOffset))][h].
/// `table` is relative_attention_bias.weight (num_buckets, n_heads).
func positionBias(table: [Float], heads: Int, queryLength: Int, keyLength: Int, queryOffset: Int,
                  bidirectional: Bool, numBuckets: Int, maxDistance: Int) -> [Float] {
    var bias = [Float](repeating: 0, count: heads * queryLength * keyLength)   // (heads, q, k)
    var bucketOf: [Int: Int] = [:]
    for i in 0..<queryLength {
        for j in 0..<keyLength {
            let rel = j - (i + queryOffset)
            let b: Int
            if let cached = bucketOf[rel] { b = cached } else {
                b = relativePositionBucket(rel, bidirectional: bidirectional, numBuckets: numBuckets, maxDistance: maxDistance)
                bucketOf[rel] = b
            }
            for h in 0..<heads { bias[(h * queryLength + i) * keyLength + j] = table[b * heads + h] }
        }
    }
    return bias
}

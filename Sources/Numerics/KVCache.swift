import CKernels

/// One layer's cached keys or values for one request, as the decoder's cross-attention reads
/// them on every step: (length, heads · dKV) rows in F32, BF16 or INT8 (one scale per position
/// and head). The compact formats halve or quarter what each step streams from memory, which is
/// what decode time is made of once the weights shrink too.
public struct KVRows: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case fp32, bf16, int8

        /// The cache format that goes with a weight format: F32 caches for F32 weights (F32
        /// results stay token-exact with the reference), INT8 for INT8, BF16 for every other
        /// compact format.
        public init(weights: WeightFormat) {
            self = weights == .fp32 ? .fp32 : weights == .int8 ? .int8 : .bf16
        }

        var ck: ck_kv_format { self == .int8 ? CK_KV_INT8 : CK_KV_BF16 }
    }

    public let format: Format
    public let length: Int
    public let heads: Int
    public let dKV: Int
    let floats: [Float]    // fp32: (length, heads * dKV)
    let halves: [UInt16]   // bf16: (length, heads * dKV) bf16 bits
    let bytes: [Int8]      // int8: (length, heads * dKV)
    let scales: [Float]    // int8: (length, heads)

    /// Packs rows x (length, ld; its first heads · dKV columns).
    public init(_ x: UnsafePointer<Float>, length: Int, ld: Int, heads: Int, dKV: Int, format: Format) {
        let inner = heads * dKV
        self.format = format; self.length = length; self.heads = heads; self.dKV = dKV
        var floats = [Float](), halves = [UInt16](), bytes = [Int8](), scales = [Float]()
        switch format {
        case .fp32:
            floats = [Float](unsafeUninitializedCapacity: length * inner) { buffer, count in
                for r in 0..<length { (buffer.baseAddress! + r * inner).update(from: x + r * ld, count: inner) }
                count = length * inner
            }
        case .bf16:
            halves = [UInt16](unsafeUninitializedCapacity: length * inner) { buffer, count in
                ck_kv_pack(CK_KV_BF16, x, length, ld, heads, dKV, buffer.baseAddress!, nil)
                count = length * inner
            }
        case .int8:
            scales = [Float](repeating: 0, count: length * heads)
            bytes = [Int8](unsafeUninitializedCapacity: length * inner) { buffer, count in
                ck_kv_pack(CK_KV_INT8, x, length, ld, heads, dKV, buffer.baseAddress!, &scales)
                count = length * inner
            }
        }
        self.floats = floats; self.halves = halves; self.bytes = bytes; self.scales = scales
    }

    /// Bytes held.
    public var byteCount: Int { floats.count * 4 + halves.count * 2 + bytes.count + scales.count * 4 }

    /// Row r as F32 (scale applied): what the kernels compute with.
    public func row(_ r: Int) -> [Float] {
        let inner = heads * dKV
        switch format {
        case .fp32: return Array(floats[(r * inner)..<((r + 1) * inner)])
        case .bf16: return (0..<inner).map { Float(bitPattern: UInt32(halves[r * inner + $0]) << 16) }
        case .int8: return (0..<inner).map { Float(bytes[r * inner + $0]) * scales[r * heads + $0 / dKV] }
        }
    }

    /// Calls body with the stored rows and the int8 scales (nil unless INT8).
    func withStorage<R>(_ body: (UnsafeRawPointer, UnsafePointer<Float>?) -> R) -> R {
        switch format {
        case .fp32: floats.withUnsafeBytes { body($0.baseAddress!, nil) }
        case .bf16: halves.withUnsafeBytes { body($0.baseAddress!, nil) }
        case .int8: bytes.withUnsafeBytes { b in scales.withUnsafeBufferPointer { body(b.baseAddress!, $0.baseAddress!) } }
        }
    }
}

extension AttentionKernels {
    /// `singleQuery` over cached rows in any `KVRows.Format`: F32 caches take the F32 path
    /// above; BF16/INT8 ones are read in place by CKernels' per-ISA kernels (`isa`: nil is the
    /// selected variant; `reference` runs the plain scalar C instead). The bias add and softmax
    /// are the F32 path's.
    public static func singleQuery(q: UnsafePointer<Float>, keys: KVRows, values: KVRows, bias: UnsafePointer<Float>?,
                                   ctx: UnsafeMutablePointer<Float>, headRange: Range<Int>? = nil,
                                   isa: KernelISA? = nil, reference: Bool = false) {
        precondition(keys.format == values.format && keys.length == values.length)
        let heads = keys.heads, dKV = keys.dKV, tk = keys.length
        let hs = headRange ?? 0..<heads
        if keys.format == .fp32 {
            keys.floats.withUnsafeBufferPointer { k in values.floats.withUnsafeBufferPointer { v in
                singleQuery(q: q, keys: k.baseAddress!, values: v.baseAddress!, tk: tk, heads: heads, dKV: dKV,
                            bias: bias, ctx: ctx, headRange: hs)
            }}
            return
        }
        let format = keys.format.ck, variant = (isa ?? .selected).c
        withUnsafeTemporaryAllocation(of: Float.self, capacity: hs.count * tk) { scores in
            let s = scores.baseAddress!   // (hs.count, tk)
            let h0 = hs.lowerBound, h1 = hs.upperBound
            keys.withStorage { k, kScale in
                if reference {
                    ck_kv_scores_reference(format, q, k, kScale, tk, heads, dKV, h0, h1, s)
                } else {
                    ck_kv_scores(variant, format, q, k, kScale, tk, heads, dKV, h0, h1, s)
                }
            }
            for (g, h) in hs.enumerated() {
                if let bias { Kernels.add(bias + h * tk, into: s + g * tk, count: tk) }
                Kernels.softmaxVector(s + g * tk, count: tk)
            }
            values.withStorage { v, vScale in
                if reference {
                    ck_kv_weighted_values_reference(format, s, v, vScale, tk, heads, dKV, h0, h1, ctx)
                } else {
                    ck_kv_weighted_values(variant, format, s, v, vScale, tk, heads, dKV, h0, h1, ctx)
                }
            }
        }
    }
}

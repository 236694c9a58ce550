/// Checkpoints store BF16 (FLAN-T5's training precision) or F16; the engine computes in F32.
/// BF16 -> F32 is exact (the top 16 bits of an F32), so an F32 model rebuilt from a BF16 file
/// is bit-identical to what PyTorch computes with after `.float()`.
@inlinable
public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Round-to-nearest-even F32 -> BF16, as torch does for `.to(torch.bfloat16)`.
@inlinable
public func floatToBF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

@inlinable
public func f16ToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

import Foundation
import Numerics

/// Element types a safetensors file may declare. Only the float types are loadable as weights;
/// the others are recognised so an error can name them.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2", u16 = "U16", u32 = "U32", u64 = "U64"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }
}

/// One tensor's entry in a safetensors header. Offsets are absolute within the file.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    public let byteRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed and fully validated safetensors container (https://github.com/huggingface/safetensors
/// format): every header field is checked before any tensor is read, because uploads come from
/// clients we do not trust and a bad offset must be an error, never an out-of-bounds read.
public struct SafeTensors: @unchecked Sendable {
    public let tensors: [String: SafeTensorInfo]
    public let metadata: [String: String]
    /// Keeps the bytes alive: a mapped file or an owned buffer.
    private let owner: AnyObject
    private let bytes: UnsafeRawBufferPointer

    /// Header JSON larger than this is refused: real headers are a few hundred KB at most.
    public static let maxHeaderBytes = 100 << 20

    public init(mapping path: String) throws(NumericsError) {
        let file = try MappedFile(path: path)
        try self.init(owner: file, bytes: file.bytes, source: path)
    }

    public init(data: Data, source: String = "upload") throws(NumericsError) {
        let box = OwnedBytes(data)
        try self.init(owner: box, bytes: box.bytes, source: source)
    }

    private init(owner: AnyObject, bytes: UnsafeRawBufferPointer, source: String) throws(NumericsError) {
        self.owner = owner
        self.bytes = bytes
        guard bytes.count >= 8 else {
            throw NumericsError("\(source): not a safetensors file (\(bytes.count) bytes, shorter than its 8-byte header length)")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= bytes.count - 8 else {
            throw NumericsError("\(source): safetensors header length \(headerLength) is beyond the file's \(bytes.count) bytes (truncated or not a safetensors file)")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = Data(bytes[8..<dataStart])
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerBytes)
        } catch {
            throw NumericsError("\(source): safetensors header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw NumericsError("\(source): safetensors header is not a JSON object")
        }
        var tensors: [String: SafeTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if let dict = value as? [String: Any] {
                    for (k, v) in dict { metadata[k] = v as? String ?? "\(v)" }
                }
                continue
            }
            tensors[name] = try Self.parseEntry(name: name, value: value, dataStart: dataStart,
                                                fileSize: bytes.count, source: source)
        }
        try Self.checkNoOverlap(Array(tensors.values), source: source)
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func parseEntry(name: String, value: Any, dataStart: Int, fileSize: Int,
                                   source: String) throws(NumericsError) -> SafeTensorInfo {
        guard let entry = value as? [String: Any],
              let dtypeName = entry["dtype"] as? String,
              let shapeValues = entry["shape"] as? [Any],
              let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2 else {
            throw NumericsError("\(source): tensor '\(name)' has a malformed header entry (needs dtype, shape, data_offsets)")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw NumericsError("\(source): tensor '\(name)' has unknown dtype '\(dtypeName)'")
        }
        var shape: [Int] = []
        for v in shapeValues {
            guard let n = (v as? NSNumber)?.int64Value, n >= 0, n <= Int64(Int32.max) else {
                throw NumericsError("\(source): tensor '\(name)' has an invalid shape \(shapeValues)")
            }
            shape.append(Int(n))
        }
        guard let begin64 = (offsetValues[0] as? NSNumber)?.int64Value,
              let end64 = (offsetValues[1] as? NSNumber)?.int64Value,
              begin64 >= 0, end64 >= begin64 else {
            throw NumericsError("\(source): tensor '\(name)' has invalid data_offsets \(offsetValues)")
        }
        let (elements, overflow) = shape.reduce((1, false)) { acc, d in
            let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
        }
        guard !overflow, elements.multipliedReportingOverflow(by: dtype.byteSize).overflow == false,
              end64 - begin64 == Int64(elements * dtype.byteSize) else {
            throw NumericsError("\(source): tensor '\(name)' declares shape \(shape) of \(dtypeName) but its data_offsets span \(end64 - begin64) bytes")
        }
        guard Int64(dataStart) + end64 <= Int64(fileSize) else {
            throw NumericsError("\(source): tensor '\(name)' data_offsets [\(begin64), \(end64)] run past the end of the file (truncated?)")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape,
                              byteRange: (dataStart + Int(begin64))..<(dataStart + Int(end64)))
    }

    private static func checkNoOverlap(_ infos: [SafeTensorInfo], source: String) throws(NumericsError) {
        let sorted = infos.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.byteRange.lowerBound < a.byteRange.upperBound {
            throw NumericsError("\(source): tensors '\(a.name)' and '\(b.name)' overlap in the data buffer")
        }
    }

    /// The tensor's values as F32 (BF16/F16 widened exactly). Integer dtypes are refused.
    public func floats(_ name: String) throws(NumericsError) -> [Float] {
        guard let info = tensors[name] else { throw NumericsError("tensor '\(name)' is missing") }
        return try floats(info)
    }

    public func floats(_ info: SafeTensorInfo) throws(NumericsError) -> [Float] {
        let n = info.elementCount
        let raw = UnsafeRawBufferPointer(rebasing: bytes[info.byteRange])
        var out = [Float](repeating: 0, count: n)
        switch info.dtype {
        case .f32:
            out.withUnsafeMutableBytes { dst in dst.copyMemory(from: raw) }
        case .bf16:
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n { dst[i] = bf16ToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
        case .f16:
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n { dst[i] = f16ToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
        case .f64:
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            }
        default:
            throw NumericsError("tensor '\(info.name)' has dtype \(info.dtype.rawValue); expected F32, F16 or BF16")
        }
        return out
    }

    /// The whole container as stored (header and data), e.g. to hash it.
    public var fileBytes: UnsafeRawBufferPointer { bytes }

    /// The raw little-endian bytes, for hashing or BF16 weight storage without conversion.
    public func rawBytes(_ info: SafeTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[info.byteRange])
    }
}

/// Owns an upload's bytes for the lifetime of a parsed container.
private final class OwnedBytes {
    let storage: UnsafeMutableRawBufferPointer
    let count: Int
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage.baseAddress, count: count) }
    init(_ data: Data) {
        count = data.count
        storage = .allocate(byteCount: max(data.count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        _ = data.copyBytes(to: storage)
    }
    deinit { storage.deallocate() }
}

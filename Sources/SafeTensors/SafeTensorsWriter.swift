import Foundation
import Numerics

/// Writes safetensors files (random benchmark checkpoints, converted weights). Tensors are laid
/// out in the order given, each 8-byte aligned as the reference writer does.
public struct SafeTensorsWriter {
    public struct Entry {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        public let data: Data
        public init(name: String, dtype: SafeTensorsDType, shape: [Int], data: Data) {
            self.name = name; self.dtype = dtype; self.shape = shape; self.data = data
        }
        /// F32 values stored as BF16 (round to nearest even).
        public static func bf16(_ name: String, shape: [Int], values: [Float]) -> Entry {
            var data = Data(count: values.count * 2)
            data.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() { raw.storeBytes(of: floatToBF16(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return Entry(name: name, dtype: .bf16, shape: shape, data: data)
        }
        public static func f32(_ name: String, shape: [Int], values: [Float]) -> Entry {
            Entry(name: name, dtype: .f32, shape: shape, data: values.withUnsafeBytes { Data($0) })
        }
    }

    public static func serialize(_ entries: [Entry], metadata: [String: String] = ["format": "pt"]) throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.data.count]]
            offset += e.data.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries { out.append(e.data) }
        return out
    }

    public static func write(_ entries: [Entry], to url: URL, metadata: [String: String] = ["format": "pt"]) throws {
        try serialize(entries, metadata: metadata).write(to: url, options: .atomic)
    }
}

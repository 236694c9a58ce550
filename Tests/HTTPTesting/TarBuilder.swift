import Foundation

/// Writes raw tar blocks for cases the tar command will not produce (device entries made
/// without root, base-256 sizes, broken pax records).
public struct TarBuilder {
    public private(set) var data = Data()
    public init() {}

    /// Appends one ustar header plus padded content. `size` overrides the size field to lie.
    public mutating func entry(_ name: String, type: Character = "0", content: Data = Data(), size: Int? = nil,
                        base256Size: Bool = false, prefix: String = "") {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() {
                header[offset + index] = byte
            }
        }
        func octal(_ value: Int, at offset: Int, length: Int) {
            put(String(repeating: "0", count: max(0, length - 1 - String(value, radix: 8).count))
                + String(value, radix: 8), at: offset, length: length - 1)
        }
        put(name, at: 0, length: 100)
        octal(0o644, at: 100, length: 8)
        octal(0, at: 108, length: 8)
        octal(0, at: 116, length: 8)
        let declared = size ?? content.count
        if base256Size {
            header[124] = 0x80
            for index in 0..<8 {
                header[135 - index] = UInt8(truncatingIfNeeded: declared >> (8 * index))
            }
        } else {
            octal(declared, at: 124, length: 12)
        }
        octal(0, at: 136, length: 12)
        header[156] = type.asciiValue!
        put("ustar", at: 257, length: 6)
        put("00", at: 263, length: 2)
        put(prefix, at: 345, length: 155)
        for index in 148..<156 {
            header[index] = 0x20
        }
        let sum = header.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8), at: 148, length: 6)
        header[154] = 0
        data.append(contentsOf: header)
        data.append(content)
        let padding = (512 - content.count % 512) % 512
        data.append(Data(count: padding))
    }

    /// A pax extended header ("x") holding `records`, applied to the next entry.
    public mutating func pax(_ records: [(String, String)]) {
        var body = Data()
        for (key, value) in records {
            let payload = " \(key)=\(value)\n"
            var length = payload.utf8.count + 1
            while String(length).count + payload.utf8.count != length {
                length += 1
            }
            body.append(Data("\(length)\(payload)".utf8))
        }
        entry("PaxHeaders/x", type: "x", content: body)
    }

    public mutating func end() {
        data.append(Data(count: 1024))
    }
}

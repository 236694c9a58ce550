import Foundation

/// A file or directory taken from an uploaded archive. Only these two kinds are ever
/// returned: anything that could point outside the archive or at a device is rejected.
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file
        case directory
    }

    /// Relative, "/"-separated, without ".", ".." or empty components; a single leading
    /// folder (e.g. "my-adapter/adapter_config.json") is kept, so callers match on `name`.
    public var path: String
    public var kind: Kind
    /// Permission bits from the header (informational only).
    public var mode: Int
    public var data: Data

    public init(path: String, kind: Kind, mode: Int, data: Data) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.data = data
    }

    /// The last path component, e.g. "adapter_config.json".
    public var name: String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

/// Reader for ustar, GNU and pax tar archives, optionally gzip-compressed.
public enum TarArchive {
    /// Decodes `data` (plain tar or gzip-compressed tar, detected by magic bytes) and returns
    /// its files and directories in archive order.
    ///
    /// Rejects, with `.unsafeTarEntry`: absolute paths, ".." components, symlinks, hard
    /// links, devices and FIFOs. With `.invalidTar`: bad checksums, truncation, malformed
    /// headers and unsupported kinds (sparse, multi-volume). With `.uploadTooLarge`: more
    /// than `maxUnpackedBytes` of tar data (checked while inflating).
    public static func read(_ data: Data, maxUnpackedBytes: Int = 1 << 30) throws(UploadError) -> [TarEntry] {
        let tar: Data
        if Gzip.isGzip(data) {
            tar = try Gzip.decompress(data, maxOutputBytes: maxUnpackedBytes)
        } else {
            guard data.count <= maxUnpackedBytes else {
                throw UploadError(.uploadTooLarge, "archive exceeds the limit of \(maxUnpackedBytes) bytes")
            }
            tar = data
        }
        return try tar.withUnsafeBytes { TarReader(bytes: $0).readAll() }.get()
    }
}

private struct TarReader {
    let bytes: UnsafeRawBufferPointer
    static let blockSize = 512

    func readAll() -> Result<[TarEntry], UploadError> {
        do {
            return .success(try entries())
        } catch let error as UploadError {
            return .failure(error)
        } catch {
            return .failure(UploadError(.invalidTar, "\(error)"))
        }
    }

    private func entries() throws -> [TarEntry] {
        var result: [TarEntry] = []
        var offset = 0
        // Extended headers that apply to the next real entry only.
        var pax: [String: String] = [:]
        var gnuLongName: String?

        while true {
            guard offset < bytes.count else {
                throw UploadError(.invalidTar, "archive ends without an end-of-archive marker (truncated?)")
            }
            guard bytes.count - offset >= Self.blockSize else {
                throw UploadError(.invalidTar, "archive is truncated inside a header block")
            }
            let header = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Self.blockSize])
            if header.allSatisfy({ $0 == 0 }) {
                guard pax.isEmpty && gnuLongName == nil else {
                    throw UploadError(.invalidTar, "extended header is not followed by an entry")
                }
                return result
            }
            try verifyChecksum(header, at: offset)
            offset += Self.blockSize

            let type = header[156]
            var size = try number(header, 124, 12, field: "size")
            if type != UInt8(ascii: "x") && type != UInt8(ascii: "g"), let paxSize = pax["size"] {
                guard let value = Int(paxSize), value >= 0 else {
                    throw UploadError(.invalidTar, "pax size '\(paxSize)' is not a number")
                }
                size = value
            }
            guard size <= bytes.count - offset else {
                throw UploadError(.invalidTar, "archive is truncated: entry data runs past the end")
            }
            let padded = (size + Self.blockSize - 1) / Self.blockSize * Self.blockSize
            guard padded <= bytes.count - offset else {
                throw UploadError(.invalidTar, "archive is truncated inside entry padding")
            }
            let content = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])
            offset += padded

            switch type {
            case UInt8(ascii: "x"):
                pax.merge(try paxRecords(content), uniquingKeysWith: { $1 })
                if pax.keys.contains(where: { $0.hasPrefix("GNU.sparse.") }) {
                    throw UploadError(.invalidTar, "sparse files are not supported")
                }
                continue
            case UInt8(ascii: "g"):
                _ = try paxRecords(content)  // validated, but global defaults are not applied
                continue
            case UInt8(ascii: "L"):
                gnuLongName = try text(content, field: "GNU long name")
                continue
            case UInt8(ascii: "K"):
                continue  // long link target; the link entry it belongs to is rejected below
            default:
                break
            }

            let rawPath = try pax["path"] ?? gnuLongName ?? headerPath(header)
            pax = [:]
            gnuLongName = nil
            let kind: TarEntry.Kind
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                kind = rawPath.hasSuffix("/") && type == 0 ? .directory : .file  // old tars mark dirs with "/"
            case UInt8(ascii: "5"):
                kind = .directory
            case UInt8(ascii: "1"):
                throw UploadError(.unsafeTarEntry, "'\(rawPath)' is a hard link; links are not allowed")
            case UInt8(ascii: "2"):
                throw UploadError(.unsafeTarEntry, "'\(rawPath)' is a symbolic link; links are not allowed")
            case UInt8(ascii: "3"), UInt8(ascii: "4"):
                throw UploadError(.unsafeTarEntry, "'\(rawPath)' is a device file")
            case UInt8(ascii: "6"):
                throw UploadError(.unsafeTarEntry, "'\(rawPath)' is a FIFO")
            default:
                let shown = (0x21...0x7E).contains(type) ? String(UnicodeScalar(type)) : "0x" + String(type, radix: 16)
                throw UploadError(.invalidTar, "'\(rawPath)' has unsupported entry type '\(shown)'")
            }
            guard let path = try safePath(rawPath, kind: kind) else {
                continue  // "./" itself
            }
            let mode = try number(header, 100, 8, field: "mode")
            result.append(TarEntry(path: path, kind: kind, mode: mode & 0o7777,
                                   data: kind == .file ? Data(content) : Data()))
        }
    }

    /// The header sum with the checksum field counted as spaces; both unsigned and (historic)
    /// signed byte sums are accepted, as GNU tar does.
    private func verifyChecksum(_ header: UnsafeRawBufferPointer, at offset: Int) throws {
        let stored = try number(header, 148, 8, field: "checksum")
        var unsigned = 0
        var signed = 0
        for (index, byte) in header.enumerated() {
            let value = (148..<156).contains(index) ? 0x20 : byte
            unsigned += Int(value)
            signed += Int(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw UploadError(.invalidTar, "header checksum mismatch at byte \(offset) (corrupt or not a tar archive)")
        }
    }

    /// Octal (NUL/space terminated) or GNU base-256 (high bit set) numeric field.
    private func number(_ header: UnsafeRawBufferPointer, _ start: Int, _ length: Int, field: String) throws -> Int {
        let raw = header[start..<start + length]
        if let first = raw.first, first & 0x80 != 0 {
            let rest = raw.dropFirst()
            let significant = rest.suffix(8)
            guard first == 0x80, rest.dropLast(significant.count).allSatisfy({ $0 == 0 }) else {
                throw UploadError(.invalidTar, "\(field) field is negative or too large")
            }
            let value = significant.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard value <= UInt64(Int.max) else {
                throw UploadError(.invalidTar, "\(field) field is too large")
            }
            return Int(value)
        }
        var value = 0
        var index = raw.startIndex
        while index < raw.endIndex && raw[index] == UInt8(ascii: " ") {
            index += 1
        }
        while index < raw.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(raw[index]) {
            guard value < (Int.max >> 3) else {
                throw UploadError(.invalidTar, "\(field) field is too large")
            }
            value = value << 3 | Int(raw[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard raw[index...].allSatisfy({ $0 == 0 || $0 == UInt8(ascii: " ") }) else {
            throw UploadError(.invalidTar, "\(field) field is not an octal number")
        }
        return value
    }

    /// ustar splits long names into prefix + "/" + name; GNU headers reuse the prefix area
    /// for other fields, so it is only read under the POSIX magic.
    private func headerPath(_ header: UnsafeRawBufferPointer) throws -> String {
        let name = try text(UnsafeRawBufferPointer(rebasing: header[0..<100]), field: "name")
        let isPOSIX = header[257..<263].elementsEqual("ustar\0".utf8)
        if isPOSIX {
            let prefix = try text(UnsafeRawBufferPointer(rebasing: header[345..<500]), field: "prefix")
            if !prefix.isEmpty {
                return prefix + "/" + name
            }
        }
        return name
    }

    /// A NUL-terminated (or field-filling) UTF-8 string.
    private func text(_ field: UnsafeRawBufferPointer, field label: String) throws -> String {
        let end = field.firstIndex(of: 0) ?? field.endIndex
        guard let value = String(validating: field[field.startIndex..<end], as: UTF8.self) else {
            throw UploadError(.invalidTar, "\(label) is not valid UTF-8")
        }
        return value
    }

    /// pax extended header records: "<length> <key>=<value>\n", length counting the whole record.
    private func paxRecords(_ data: UnsafeRawBufferPointer) throws -> [String: String] {
        var records: [String: String] = [:]
        var index = data.startIndex
        while index < data.endIndex {
            if data[index] == 0 {
                break  // some writers pad with NULs
            }
            var length = 0
            var cursor = index
            while cursor < data.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(data[cursor]) {
                length = length * 10 + Int(data[cursor] - UInt8(ascii: "0"))
                guard length <= data.count else {
                    throw UploadError(.invalidTar, "malformed pax record length")
                }
                cursor += 1
            }
            guard cursor > index, cursor < data.endIndex, data[cursor] == UInt8(ascii: " "),
                  length > cursor - index + 1, index + length <= data.endIndex,
                  data[index + length - 1] == UInt8(ascii: "\n") else {
                throw UploadError(.invalidTar, "malformed pax record")
            }
            let record = data[(cursor + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")),
                  let key = String(validating: record[record.startIndex..<equals], as: UTF8.self),
                  let value = String(validating: record[(equals + 1)...], as: UTF8.self) else {
                throw UploadError(.invalidTar, "malformed pax record")
            }
            records[key] = value
            index += length
        }
        return records
    }

    /// Returns nil for the archive root ("./"); throws for anything that could escape it.
    private func safePath(_ raw: String, kind: TarEntry.Kind) throws -> String? {
        if raw.hasPrefix("/") {
            throw UploadError(.unsafeTarEntry, "'\(raw)' is an absolute path")
        }
        if raw.contains("\\") || raw.contains("\0") {
            throw UploadError(.unsafeTarEntry, "'\(raw)' contains a backslash or NUL")
        }
        var components: [Substring] = []
        for component in raw.split(separator: "/") {
            if component == ".." {
                throw UploadError(.unsafeTarEntry, "'\(raw)' has a '..' component")
            }
            if component != "." {
                components.append(component)
            }
        }
        if components.isEmpty {
            guard kind == .directory else {
                throw UploadError(.invalidTar, "an entry has an empty path")
            }
            return nil
        }
        return components.joined(separator: "/")
    }
}

import CZlib
import Foundation

/// gzip inflation with an output ceiling: a few KiB of gzip can expand to gigabytes, so the
/// limit is checked while inflating, never after.
public enum Gzip {
    /// True when `data` starts with the gzip magic bytes (1f 8b).
    public static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Inflates all gzip members in `data` (as `gzip -d` does for concatenated files).
    /// Throws `.uploadTooLarge` as soon as the output would exceed `maxOutputBytes`, and
    /// `.invalidGzip` for corrupt, truncated or non-gzip input.
    public static func decompress(_ data: Data, maxOutputBytes: Int) throws(UploadError) -> Data {
        guard isGzip(data) else {
            throw UploadError(.invalidGzip, "data is not gzip (missing 1f 8b magic)")
        }
        return try data.withUnsafeBytes { inflateAll($0, maxOutputBytes: maxOutputBytes) }.get()
    }

    private static func inflateAll(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) -> Result<Data, UploadError> {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip wrapper (header and CRC-32/length trailer are checked).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(UploadError(.invalidGzip, "zlib could not be initialised"))
        }
        defer { inflateEnd(&stream) }

        let base = input.bindMemory(to: UInt8.self).baseAddress!
        var consumed = 0  // input bytes handed to zlib so far
        var output = Data()
        let chunkSize = 64 << 10
        var chunk = [UInt8](repeating: 0, count: chunkSize)

        while true {
            if stream.avail_in == 0 && consumed < input.count {
                // avail_in is 32-bit; feed very large inputs in slices.
                let slice = min(input.count - consumed, 1 << 30)
                stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                stream.avail_in = UInt32(slice)
                consumed += slice
            }
            let (rc, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(chunkSize)
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (rc, chunkSize - Int(stream.avail_out))
            }
            if produced > maxOutputBytes - output.count {
                return .failure(UploadError(.uploadTooLarge,
                                            "decompressed data exceeds the limit of \(maxOutputBytes) bytes"))
            }
            output.append(contentsOf: chunk[0..<produced])

            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let remaining = input.count - consumed + Int(stream.avail_in)
                if remaining == 0 {
                    return .success(output)
                }
                let next = input.count - remaining
                if remaining >= 2 && input[next] == 0x1f && input[next + 1] == 0x8b {
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else {
                        return .failure(UploadError(.invalidGzip, "zlib could not be reset"))
                    }
                    continue
                }
                // Padding some tools add after the stream is harmless; anything else is not.
                if input[next...].allSatisfy({ $0 == 0 }) {
                    return .success(output)
                }
                return .failure(UploadError(.invalidGzip, "unexpected data after the end of the gzip stream"))
            case Z_BUF_ERROR where stream.avail_in == 0 && consumed == input.count:
                return .failure(UploadError(.invalidGzip, "gzip data is truncated"))
            case Z_BUF_ERROR:
                continue
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                return .failure(UploadError(.invalidGzip, "corrupt gzip data: \(detail)"))
            }
        }
    }
}

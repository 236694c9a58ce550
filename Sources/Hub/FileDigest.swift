import CHub
import Foundation

/// What a downloaded file must hash to: the Hub lists LFS files by the sha256 of their content
/// and other files by their git blob id (sha1 of "blob <size>\0" + content, also their ETag).
public enum ExpectedHash: Equatable, Sendable, Codable {
    case sha256(String)
    case gitBlobSHA1(String)

    public var hex: String {
        switch self { case .sha256(let h), .gitBlobSHA1(let h): return h }
    }

    var label: String {
        switch self { case .sha256: return "sha256"; case .gitBlobSHA1: return "git blob sha1" }
    }
}

/// Streaming digests with OpenSSL (a 1 GB checkpoint hashes in a few seconds).
enum FileDigest {
    /// The digest `expected` is stated in, of the file at `path` (`size` bytes).
    static func compute(_ expected: ExpectedHash, path: String, size: Int64) throws(HubError) -> String {
        guard let ctx = EVP_MD_CTX_new() else { throw HubError(.io, "OpenSSL could not allocate a digest") }
        defer { EVP_MD_CTX_free(ctx) }
        let md: OpaquePointer?
        switch expected {
        case .sha256: md = EVP_sha256()
        case .gitBlobSHA1: md = EVP_sha1()
        }
        guard EVP_DigestInit_ex(ctx, md, nil) == 1 else { throw HubError(.io, "OpenSSL could not start a digest") }
        if case .gitBlobSHA1 = expected {
            let prefix = Array("blob \(size)\0".utf8)
            _ = prefix.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        guard let file = FileHandle(forReadingAtPath: path) else { throw HubError(.io, "cannot read \(path) to check it") }
        defer { try? file.close() }
        while true {
            let chunk: Data
            do { chunk = try file.read(upToCount: 4 << 20) ?? Data() } catch {
                throw HubError(.io, "cannot read \(path) to check it: \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            _ = chunk.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &out, &length) == 1 else { throw HubError(.io, "OpenSSL could not finish a digest") }
        return out.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}

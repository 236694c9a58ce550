import Adapters
import Foundation
import Serving

/// A start-up or reload problem with the credentials. The message names the setting, file and
/// line, never the secret itself.
public struct AccessError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ message: String) { description = message }
}

/// The secrets the server accepts, held only as SHA-256 digests: comparing fixed-length
/// digests byte by byte without stopping early takes the same time whatever the guess, so
/// response timing reveals neither a key's content nor its length.
final class Credentials: @unchecked Sendable {
    private let lock = NSLock()
    /// Config and environment keys: fixed for the life of the process.
    private let staticKeys: [Digest]
    /// The key file's keys, replaced as a whole on SIGHUP.
    private var fileKeys: [Digest] = []
    private let adminToken: Digest?
    let keyFile: String?

    typealias Digest = [UInt8]  // 32 bytes

    /// Until `load` has read the key file, only the static keys and the admin token match, and
    /// keys are already required: a server that failed to load its keys fails closed.
    init(settings: ServiceSettings) {
        staticKeys = settings.access.apiKeys.map(Self.digest)
        adminToken = settings.adminToken.flatMap { $0.isEmpty ? nil : Self.digest($0) }
        keyFile = settings.access.apiKeyFile
    }

    /// Start-up: checks the configured keys and reads the key file.
    func load(_ settings: ServiceSettings) throws(AccessError) {
        for key in settings.access.apiKeys {
            try Self.validate(key, origin: "api_keys / ADAPTER_SERVE_API_KEYS")
        }
        try reload()
    }

    /// Keys are required once any are configured, or a key file is named (even an empty one:
    /// emptying the file must lock inference, not open it).
    var keysRequired: Bool { !staticKeys.isEmpty || keyFile != nil }
    var hasAdminToken: Bool { adminToken != nil }

    /// Re-reads the key file; on failure the previous keys stay in force. Returns the count,
    /// nil when no key file is configured.
    @discardableResult
    func reload() throws(AccessError) -> Int? {
        guard let keyFile else { return nil }
        let keys = try Self.readKeyFile(keyFile).map(Self.digest)
        lock.withLock { fileKeys = keys }
        return keys.count
    }

    func isAdminToken(_ candidate: [UInt8]) -> Bool {
        guard let adminToken else { return false }
        return Self.constantTimeEqual(Self.digest(candidate), adminToken)
    }

    /// An API key or the admin token. Every stored digest is compared, match or not.
    func isAPIKey(_ candidate: [UInt8]) -> Bool {
        let given = Self.digest(candidate)
        let all = staticKeys + lock.withLock { fileKeys } + (adminToken.map { [$0] } ?? [])
        var found = false
        for key in all { found = Self.constantTimeEqual(given, key) || found }
        return found
    }

    static func constantTimeEqual(_ a: Digest, _ b: Digest) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    static func digest(_ s: String) -> Digest { digest(Array(s.utf8)) }

    static func digest(_ bytes: [UInt8]) -> Digest {
        var h = SHA256()
        h.update(bytes)
        let hex = Array(h.finalize().utf8)
        // 64 hex digits -> 32 bytes.
        return (0..<32).map { UInt8(hexValue(hex[2 * $0]) << 4 | hexValue(hex[2 * $0 + 1])) }
    }

    private static func hexValue(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }

    /// One key per line; blank lines and lines starting with "#" are skipped; surrounding
    /// whitespace (and a Windows "\r") is dropped.
    static func readKeyFile(_ path: String) throws(AccessError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AccessError("cannot read the API key file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw AccessError("the API key file \(path) is not UTF-8 text")
        }
        var keys: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let key = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if key.isEmpty || key.hasPrefix("#") { continue }
            try validate(key, origin: "line \(index + 1) of the API key file \(path)")
            keys.append(key)
        }
        return keys
    }

    /// A key must survive the trip through an HTTP header unchanged: visible ASCII only.
    static func validate(_ key: String, origin: String) throws(AccessError) {
        guard !key.isEmpty, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw AccessError("an API key in \(origin) is empty or has a character other than visible ASCII (letters, digits, punctuation)")
        }
    }
}

extension APIServer {
    /// SIGHUP: re-reads the API key file. On failure the previous keys stay in force.
    /// Returns how many keys the file now holds, nil when no key file is configured.
    @discardableResult
    public func reloadAPIKeys() throws(AccessError) -> Int? {
        try access.credentials.reload()
    }
}

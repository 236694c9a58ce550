import Foundation
import Serving

#if canImport(Glibc)
import Glibc
#endif

/// Redis-style protected mode: the admin endpoints rewrite the adapter store, so a server
/// reachable from other machines must not expose them without a token unless the operator
/// says so explicitly. Loopback binds keep today's behaviour (open, no warning).
public enum ProtectedMode {
    public enum Decision: Equatable, Sendable {
        /// A token guards the admin endpoints, they are disabled, or the bind is loopback-only.
        case safe
        /// `--allow-open-admin` without a token: start, but warn now and on every admin call.
        case openByRequest
        /// Refuse to start; the message names both ways out.
        case refuse(String)
    }

    public static func decide(_ settings: ServiceSettings) -> Decision {
        let hasToken = !(settings.adminToken ?? "").isEmpty
        if hasToken || settings.access.adminEndpoints == .disabled { return .safe }
        if settings.access.allowOpenAdmin { return .openByRequest }
        if isLoopback(settings.host) { return .safe }
        return .refuse("""
            refusing to start: \(settings.host) is not a loopback address and no admin token is set, so anyone who \
            can reach this port could upload, replace and delete adapters. Either set ADAPTER_SERVE_ADMIN_TOKEN \
            (or admin_token in the config file) so those calls need "Authorization: Bearer <token>", or pass \
            --admin-endpoints=disabled to turn uploads, deletes and activations off (they then answer 405). \
            --allow-open-admin starts anyway with the admin endpoints open to the network (not recommended).
            """)
    }

    public static let openWarning = "the admin endpoints (upload, delete, activate) are open to anyone who can reach this port: --allow-open-admin is set and there is no admin token"

    /// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name "localhost". Anything else,
    /// including 0.0.0.0, :: and host names, may be reachable from elsewhere.
    public static func isLoopback(_ host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, h, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        // IPv4-mapped (::ffff:a.b.c.d) loopback.
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }
}

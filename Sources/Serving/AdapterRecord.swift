import Foundation
import Adapters

/// An adapter as the API lists it.
public struct AdapterRecord: Sendable, Codable, Equatable {
    public let name: String
    public let kind: String
    public let sha256: String
    public let rank: Int?
    public let targetModules: [String]?
    public let targetCount: Int?
    public let virtualTokens: Int?
    public let parameterCount: Int
    public let bytes: Int
    public let createdAt: String
    public var loaded: Bool
    public var pinned: Bool
    public var tasks: [String]

    enum CodingKeys: String, CodingKey {
        case name, kind, sha256, rank, bytes, loaded, pinned, tasks
        case targetModules = "target_modules", targetCount = "target_count", virtualTokens = "virtual_tokens"
        case parameterCount = "parameter_count", createdAt = "created_at"
    }

    init(name: String, info: AdapterInfo, createdAt: String, loaded: Bool, pinned: Bool, tasks: [String]) {
        self.name = name; kind = info.kind.rawValue; sha256 = info.sha256; rank = info.rank
        targetModules = info.targetModules; targetCount = info.targetCount; virtualTokens = info.virtualTokens
        parameterCount = info.parameterCount; bytes = info.bytes; self.createdAt = createdAt
        self.loaded = loaded; self.pinned = pinned; self.tasks = tasks
    }
}

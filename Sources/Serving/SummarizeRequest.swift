import Adapters
import T5

/// A summarization request after JSON decoding (the HTTP layer) and before tokenization.
public struct SummarizeRequest: Sendable {
    public var dialogue: String
    /// Explicit adapter names; a LoRA and a soft prompt may be stacked.
    public var adapters: [String]?
    /// A per-request weighted combination of LoRAs (`"adapter": {"combine": [...]}`), used
    /// instead of `adapters`; see `RequestCombination`.
    public var combination: [CombinationMember]?
    public var task: String?
    public var promptTemplate: String?
    public var parameters: GenerationParameters
    public var returnTokenIDs = false

    public init(dialogue: String, adapters: [String]? = nil, task: String? = nil, promptTemplate: String? = nil,
                parameters: GenerationParameters = GenerationParameters(), returnTokenIDs: Bool = false,
                combination: [CombinationMember]? = nil) {
        self.dialogue = dialogue; self.adapters = adapters; self.combination = combination; self.task = task
        self.promptTemplate = promptTemplate; self.parameters = parameters; self.returnTokenIDs = returnTokenIDs
    }

    /// The lab's DialogSum prompt.
    public static let defaultTemplate = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "

    public func encoderText() throws(ServiceError) -> String {
        let template = promptTemplate ?? Self.defaultTemplate
        guard template.contains("{dialogue}") else {
            throw .unprocessable("invalid_prompt_template", "prompt_template must contain {dialogue}")
        }
        return template.replacingOccurrences(of: "{dialogue}", with: dialogue)
    }
}

public struct AdapterReference: Sendable, Codable, Equatable {
    public let name: String
    public let kind: String
    public let sha256: String
    /// A combination's members in canonical order (nil for a single or stacked adapter).
    public var combine: [CombinedMember]? = nil
}

/// One member of the combination that served a request, with the exact weights it used.
public struct CombinedMember: Sendable, Codable, Equatable {
    public let name: String
    public let weight: Double
    public let sha256: String
}

public struct SummarizeResult: Sendable {
    public let summary: String
    public let adapter: AdapterReference?
    public let task: String?
    public let inputTokens: Int
    public let outputTokens: Int
    public let tokenIDs: [Int32]
    public let queueMilliseconds: Double
    public let generationMilliseconds: Double
    public let totalMilliseconds: Double
    /// From submission to the first generated token, and between later tokens (metrics).
    public let firstTokenSeconds: Double?
    public let tokenGapSeconds: [Double]
}

/// Tokens a streamed summary just produced (on the engine thread: hand them off at once).
public struct SummaryProgress: Sendable {
    public let tokens: [Int32]
    /// The adapter serving the request, known from the first progress on.
    public let adapter: AdapterReference?
}

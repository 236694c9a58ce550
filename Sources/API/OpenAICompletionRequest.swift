import Foundation
import Serving
import T5

/// A /v1/completions or /v1/chat/completions body, decoded into encoder inputs and our
/// generation parameters with OpenAI's defaults: temperature 1 (sampling; 0 means greedy),
/// top_p 1, no top-k, n 1, max_tokens 16 for completions and the server's cap for chat.
struct OpenAICompletionRequest {
    /// Choices per request (n times the prompts), each a sequence in the engine's batch.
    static let maxChoices = 8
    static let maxStops = 4

    var model: String
    /// The encoder inputs, exactly as given (no template).
    var prompts: [String]
    var parameters: GenerationParameters
    var n: Int
    var stop: [String]
    /// Server-sent events instead of one JSON object (OpenAIStreaming.swift).
    var stream: Bool

    init(_ body: JSONBody, chat: Bool, maxNewTokensCap: Int) throws(OpenAIError) {
        try Self.rejectUnknownAndNonNeutral(body, chat: chat)
        stream = try body.openAI("stream", { b throws(ServiceError) in try b.bool("stream") }) ?? false
        model = try body.openAI("model") { b throws(ServiceError) in try b.requiredString("model") }
        prompts = chat ? [try Self.chatInput(body)] : try Self.prompts(body)

        var p = GenerationParameters()
        p.topK = 0
        var maxTokens = chat ? maxNewTokensCap : 16
        for key in chat ? ["max_tokens", "max_completion_tokens"] : ["max_tokens"] {
            if let v = try body.openAI(key, { b throws(ServiceError) in try b.int(key) }) {
                guard (1...maxNewTokensCap).contains(v) else { throw .invalid(key, "\(key) must be between 1 and \(maxNewTokensCap)") }
                maxTokens = v
            }
        }
        p.maxNewTokens = maxTokens
        let temperature = try body.openAI("temperature") { b throws(ServiceError) in try b.double("temperature") } ?? 1
        guard (0...2).contains(temperature) else { throw .invalid("temperature", "temperature must be between 0 and 2") }
        p.doSample = temperature > 0
        if temperature > 0 { p.temperature = Float(temperature) }
        if let v = try body.openAI("top_p", { b throws(ServiceError) in try b.double("top_p") }) {
            guard v > 0 && v <= 1 else { throw .invalid("top_p", "top_p must be greater than 0 and at most 1") }
            p.topP = Float(v)
        }
        if let v = try body.openAI("seed", { b throws(ServiceError) in try b.int("seed") }) {
            p.seed = UInt64(bitPattern: Int64(v))
        }
        if let v = try body.openAI("num_beams", { b throws(ServiceError) in try b.int("num_beams") }) {
            guard (1...16).contains(v) else { throw .invalid("num_beams", "num_beams must be between 1 and 16") }
            guard v == 1 || temperature == 0 else {
                throw .invalid("num_beams", "num_beams > 1 is beam search, which does not sample: set temperature to 0")
            }
            p.numBeams = v
        }
        parameters = p
        n = try body.openAI("n") { b throws(ServiceError) in try b.int("n") } ?? 1
        guard (1...Self.maxChoices).contains(n) else { throw .invalid("n", "n must be between 1 and \(Self.maxChoices)") }
        guard prompts.count * n <= Self.maxChoices else {
            throw .invalid("n", "n times the number of prompts must be at most \(Self.maxChoices); got \(prompts.count) x \(n)")
        }
        stop = try Self.stops(body)
        if let bestOf = try body.openAI("best_of", { b throws(ServiceError) in try b.int("best_of") }), bestOf != n {
            throw .unsupported("best_of", neutral: "null, or equal to n")
        }
    }

    /// `prompt`: a string, or a list of strings (one choice set each). Token-id prompts are
    /// refused: T5's encoder input here is text.
    static func prompts(_ body: JSONBody) throws(OpenAIError) -> [String] {
        guard body.has("prompt") else { throw .invalid("prompt", "prompt is required", code: "missing_required_parameter") }
        if let s = body.fields["prompt"] as? String { return [s] }
        guard let list = body.fields["prompt"] as? [Any], !list.isEmpty, list.count <= maxChoices,
              let strings = list as? [String] else {
            throw .invalid("prompt", "prompt must be a string or a list of 1 to \(maxChoices) strings (token-id prompts are not supported)")
        }
        return strings
    }

    /// The chat's encoder input: each message's content, joined by a blank line, no template.
    /// A content given as parts is its text parts joined by a newline.
    static func chatInput(_ body: JSONBody) throws(OpenAIError) -> String {
        guard let raw = body.fields["messages"] as? [Any], !raw.isEmpty else {
            throw .invalid("messages", "messages must be a non-empty array of {role, content}")
        }
        var contents: [String] = []
        for (i, item) in raw.enumerated() {
            let param = "messages[\(i)]"
            guard let fields = item as? [String: Any] else { throw .invalid(param, "\(param) must be an object") }
            let message = JSONBody(fields: fields, path: param)
            let known: Set<String> = ["role", "content", "name", "refusal", "tool_calls", "function_call", "audio"]
            if let key = fields.keys.filter({ !known.contains($0) }).sorted().first {
                throw .invalid("\(param).\(key)", "unknown field \(param).\(key); allowed: content, name, role")
            }
            for key in ["refusal", "tool_calls", "function_call", "audio"] where message.has(key) {
                guard key == "tool_calls", (fields[key] as? [Any])?.isEmpty == true else {
                    throw .unsupported("\(param).\(key)", neutral: "null")
                }
            }
            let role = try message.openAI("\(param).role") { b throws(ServiceError) in try b.requiredString("role") }
            guard ["system", "developer", "user", "assistant"].contains(role) else {
                throw .invalid("\(param).role", "\(param).role must be system, developer, user or assistant")
            }
            _ = try message.openAI("\(param).name") { b throws(ServiceError) in try b.string("name") }
            if let s = fields["content"] as? String {
                contents.append(s)
            } else if let parts = fields["content"] as? [Any] {
                var texts: [String] = []
                for (j, part) in parts.enumerated() {
                    guard let p = part as? [String: Any], p["type"] as? String == "text", let text = p["text"] as? String else {
                        throw .invalid("\(param).content[\(j)]", "\(param).content[\(j)] must be {\"type\": \"text\", \"text\": ...}; only text parts are supported")
                    }
                    texts.append(text)
                }
                contents.append(texts.joined(separator: "\n"))
            } else {
                throw .invalid("\(param).content", "\(param).content must be a string or a list of text parts")
            }
        }
        return contents.joined(separator: "\n\n")
    }

    /// `stop`: a string or up to four non-empty strings.
    static func stops(_ body: JSONBody) throws(OpenAIError) -> [String] {
        guard body.has("stop") else { return [] }
        let list: [String]
        if let s = body.fields["stop"] as? String { list = [s] } else if let a = body.fields["stop"] as? [Any], let s = a as? [String] {
            list = s
        } else {
            throw .invalid("stop", "stop must be a string or a list of up to \(maxStops) strings")
        }
        guard list.count <= maxStops, list.allSatisfy({ !$0.isEmpty }) else {
            throw .invalid("stop", "stop must hold at most \(maxStops) non-empty strings")
        }
        return list
    }

    static let common: Set<String> = ["model", "max_tokens", "temperature", "top_p", "n", "seed", "stop", "stream", "num_beams"]
    static let completionOnly: Set<String> = ["prompt", "best_of"]
    static let chatOnly: Set<String> = ["messages", "max_completion_tokens"]

    /// Fields OpenAI defines that we do not implement, with the test for their neutral value
    /// (the one that leaves the output as it is) and how the error message names it. Completions'
    /// integer `logprobs` is not neutral even at 0 (it adds a logprobs object), so only false passes.
    static let neutral: [String: (ok: @Sendable (Any) -> Bool, says: String)] = [
        "frequency_penalty": ({ ($0 as? NSNumber)?.doubleValue == 0 && !JSONBody.isBool($0 as! NSNumber) }, "0"),
        "presence_penalty": ({ ($0 as? NSNumber)?.doubleValue == 0 && !JSONBody.isBool($0 as! NSNumber) }, "0"),
        "logit_bias": ({ ($0 as? [String: Any])?.isEmpty == true }, "{}"),
        "logprobs": ({ ($0 as? NSNumber).map { JSONBody.isBool($0) && !$0.boolValue } ?? false }, "false"),
        "top_logprobs": ({ ($0 as? NSNumber).map { !JSONBody.isBool($0) && $0.intValue == 0 } ?? false }, "0"),
        "user": ({ $0 is String }, "any string"),
        "echo": ({ ($0 as? NSNumber).map { JSONBody.isBool($0) && !$0.boolValue } ?? false }, "false"),
        "suffix": ({ ($0 as? String)?.isEmpty == true }, "\"\""),
        "stream_options": ({ _ in false }, ""),
        "response_format": ({ ($0 as? [String: Any]).map { $0.count == 1 && $0["type"] as? String == "text" } ?? false }, "{\"type\": \"text\"}"),
        "tools": ({ ($0 as? [Any])?.isEmpty == true }, "[]"),
        "functions": ({ ($0 as? [Any])?.isEmpty == true }, "[]"),
        "tool_choice": ({ ["none", "auto"].contains($0 as? String ?? "") }, "\"none\" or \"auto\" without tools"),
        "function_call": ({ ["none", "auto"].contains($0 as? String ?? "") }, "\"none\" or \"auto\" without functions"),
        "parallel_tool_calls": ({ ($0 as? NSNumber).map(JSONBody.isBool) ?? false }, "true or false without tools"),
        "service_tier": ({ ["auto", "default"].contains($0 as? String ?? "") }, "\"auto\" or \"default\""),
        "metadata": ({ $0 is [String: Any] }, "an object"),
        "store": ({ ($0 as? NSNumber).map { JSONBody.isBool($0) && !$0.boolValue } ?? false }, "false"),
        "modalities": ({ ($0 as? [Any]).map { $0.count == 1 && $0.first as? String == "text" } ?? false }, "[\"text\"]"),
        "reasoning_effort": ({ _ in false }, ""),
        "prediction": ({ _ in false }, ""),
        "audio": ({ _ in false }, ""),
        "web_search_options": ({ _ in false }, ""),
        "verbosity": ({ _ in false }, ""),
    ]
    static let neutralCompletion: Set<String> = ["frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "user",
                                                 "echo", "suffix", "stream_options"]

    /// Unknown fields are refused (a typo must not silently change nothing); OpenAI's fields we
    /// do not implement pass only with their neutral value. null is neutral for every one.
    static func rejectUnknownAndNonNeutral(_ body: JSONBody, chat: Bool) throws(OpenAIError) {
        let neutralHere = chat ? Set(neutral.keys).subtracting(["echo", "suffix"]) : neutralCompletion
        let allowed = common.union(chat ? chatOnly : completionOnly).union(neutralHere)
        for key in body.fields.keys.sorted() {
            guard allowed.contains(key) else {
                throw .invalid(key, "unknown field \(key); allowed: \(allowed.sorted().joined(separator: ", "))", code: "unknown_parameter")
            }
            guard let rule = neutral[key], body.has(key) else { continue }
            if !rule.ok(body.fields[key]!) { throw .unsupported(key, neutral: rule.says.isEmpty ? "null" : "null or " + rule.says) }
        }
    }
}

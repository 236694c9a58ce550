import Adapters
import Foundation
import HTTPCore
import Serving
import T5

extension APIServer {
    static let parameterFields: Set<String> = ["max_new_tokens", "min_new_tokens", "num_beams", "do_sample", "temperature",
                                               "top_k", "top_p", "seed", "repetition_penalty", "no_repeat_ngram_size",
                                               "length_penalty", "early_stopping"]

    /// Decodes `parameters` with transformers' names; every type error names its field.
    static func parameters(_ body: JSONBody?, defaults: GenerationParameters = GenerationParameters()) throws(ServiceError) -> GenerationParameters {
        var p = defaults
        guard let body else { return p }
        try body.rejectUnknown(parameterFields)
        if let v = try body.int("max_new_tokens") { p.maxNewTokens = v }
        if let v = try body.int("min_new_tokens") { p.minNewTokens = v }
        if let v = try body.int("num_beams") { p.numBeams = v }
        if let v = try body.bool("do_sample") { p.doSample = v }
        if let v = try body.double("temperature") { p.temperature = Float(v) }
        if let v = try body.int("top_k") { p.topK = v }
        if let v = try body.double("top_p") { p.topP = Float(v) }
        if let v = try body.int("seed") {
            guard v >= 0 else { throw .badRequest("parameters.seed must be a non-negative integer") }
            p.seed = UInt64(v)
        }
        if let v = try body.double("repetition_penalty") { p.repetitionPenalty = Float(v) }
        if let v = try body.int("no_repeat_ngram_size") { p.noRepeatNgramSize = v }
        if let v = try body.double("length_penalty") { p.lengthPenalty = Float(v) }
        if body.has("early_stopping") {
            if let s = try? body.string("early_stopping"), s == "never" { p.earlyStopping = .never }
            else if let b = try body.bool("early_stopping") { p.earlyStopping = b ? .always : .heuristic }
        }
        return p
    }

    /// "adapter": a name, a list of names (a LoRA and a soft prompt stacked), or null.
    static func adapterNames(_ body: JSONBody) throws(ServiceError) -> [String]? {
        guard body.has("adapter"), !(body.fields["adapter"] is [String: Any]) else { return nil }
        if let name = body.fields["adapter"] as? String { return [name] }
        guard let list = body.fields["adapter"] as? [Any], let names = list as? [String], !names.isEmpty, names.count <= 2 else {
            throw .badRequest("adapter must be an adapter name, a list of one or two names, or {\"combine\": [{\"name\": ..., \"weight\": ...}, ...]}")
        }
        return names
    }

    /// "adapter": {"combine": [{"name": "a", "weight": 0.7}, ...]}: the members as given (the
    /// service checks count, duplicates and weights), or nil for the other forms.
    static func adapterCombination(_ body: JSONBody) throws(ServiceError) -> [CombinationMember]? {
        guard let fields = body.fields["adapter"] as? [String: Any] else { return nil }
        let object = JSONBody(fields: fields, path: "adapter")
        try object.rejectUnknown(["combine"])
        guard let list = try object.array("combine") else { throw .badRequest("adapter.combine is required: a list of {\"name\": ..., \"weight\": ...}") }
        return try list.enumerated().map { (i, item) throws(ServiceError) -> CombinationMember in
            guard let fields = item as? [String: Any] else { throw .badRequest("adapter.combine[\(i)] must be an object {\"name\": ..., \"weight\": ...}") }
            let member = JSONBody(fields: fields, path: "adapter.combine[\(i)]")
            try member.rejectUnknown(["name", "weight"])
            guard let weight = try member.double("weight") else { throw .badRequest("adapter.combine[\(i)].weight is required") }
            return CombinationMember(name: try member.requiredString("name"), weight: weight)
        }
    }

    func summarizeRequest(_ r: HTTPRequest) throws(ServiceError) -> SummarizeRequest {
        let body = try JSONBody(r.body)
        try body.rejectUnknown(["dialogue", "adapter", "task", "prompt_template", "parameters", "return_token_ids", "stream"])
        _ = try body.bool("stream")  // a type error names the field; `startSummary` reads the value
        return SummarizeRequest(dialogue: try body.requiredString("dialogue"), adapters: try Self.adapterNames(body),
                                task: try body.string("task"), promptTemplate: try body.string("prompt_template"),
                                parameters: try Self.parameters(try body.object("parameters")),
                                returnTokenIDs: try body.bool("return_token_ids") ?? false,
                                combination: try Self.adapterCombination(body))
    }

    /// POST /v1/summarize without a waiting thread: parse, tokenize and queue here, answer from
    /// the engine's completion; if the client hangs up first, the generation is cancelled and
    /// leaves the batch before the next decoder step.
    func startSummary(_ r: HTTPRequest, _ responder: IdentifiedResponder) {
        let started = Date()
        let endpoint = "/v1/summarize"
        do throws(ServiceError) {
            let request = try summarizeRequest(r)
            if try JSONBody(r.body).bool("stream") == true {
                return try streamSummary(request, r, responder, started: started)
            }
            let id = try service.startSummarize(request) { [self] result in RequestID.with(responder.requestID) {
                let response: HTTPResponse
                var label = ""
                switch result {
                case .success(let summary): (response, label) = summaryResponse(summary, returnTokenIDs: request.returnTokenIDs)
                case .failure(let error): response = Self.errorResponse(error, r)
                }
                responder.respond(finished(r, endpoint: endpoint, response: response, adapterLabel: label, started: started))
            } }
            responder.onCancel { [service] in service.cancel(id) }
        } catch {
            responder.respond(finished(r, endpoint: endpoint, response: Self.errorResponse(error, r), adapterLabel: "", started: started))
        }
    }

    func summarize(_ r: HTTPRequest, adapterLabel: inout String) throws(ServiceError) -> HTTPResponse {
        let request = try summarizeRequest(r)
        let (response, label) = summaryResponse(try service.summarize(request), returnTokenIDs: request.returnTokenIDs)
        adapterLabel = label
        return response
    }

    func summaryResponse(_ result: SummarizeResult, returnTokenIDs: Bool) -> (HTTPResponse, String) {
        // Every combination shares one metrics label: a label per weight vector is unbounded.
        let adapterLabel = result.adapter?.combine != nil ? Metrics.combinationLabel : result.adapter?.name ?? "base"
        metrics.recordTokens(adapter: adapterLabel, input: result.inputTokens, output: result.outputTokens)
        metrics.recordTokenTiming(adapter: adapterLabel, result)
        var headers = HTTPHeaders()
        headers.set("X-Adapter", result.adapter?.name ?? "base")
        headers.set("X-Input-Tokens", String(result.inputTokens))
        headers.set("X-Output-Tokens", String(result.outputTokens))
        return (.json(rawJSON: Self.json(summaryObject(result, returnTokenIDs: returnTokenIDs)), headers: headers), adapterLabel)
    }

    /// The body of a summary response (also the last event of a streamed one).
    func summaryObject(_ result: SummarizeResult, returnTokenIDs: Bool) -> [String: Any] {
        var out: [String: Any] = [
            "summary": result.summary,
            "adapter": result.adapter.map(Self.adapterObject) ?? NSNull(),
            "task": result.task ?? NSNull(),
            "usage": ["input_tokens": result.inputTokens, "output_tokens": result.outputTokens],
            "timing_ms": ["queue": Self.round(result.queueMilliseconds), "generation": Self.round(result.generationMilliseconds),
                          "total": Self.round(result.totalMilliseconds)],
        ]
        if returnTokenIDs { out["token_ids"] = result.tokenIDs.map(Int.init) }
        return out
    }

    /// The response's `adapter`: name, kind, sha256, and for a combination its members.
    static func adapterObject(_ adapter: AdapterReference) -> [String: Any] {
        var out: [String: Any] = ["name": adapter.name, "kind": adapter.kind, "sha256": adapter.sha256]
        if let members = adapter.combine {
            out["combine"] = members.map { ["name": $0.name, "weight": $0.weight, "sha256": $0.sha256] as [String: Any] }
        }
        return out
    }

    static func round(_ ms: Double) -> Double { (ms * 100).rounded() / 100 }
}

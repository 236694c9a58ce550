import Foundation
import Serving
import T5

/// One finished choice: its text (cut before a stop sequence), the tokens it took, and why it ended.
struct OpenAIChoice {
    let text: String
    let tokens: Int
    /// "stop" on EOS or a stop sequence, "length" when max_tokens ran out first.
    let finishReason: String
}

/// A finished completion, ready to render as a text or chat completion object.
struct OpenAICompletion {
    let id: String
    let created: Int
    let model: String
    let adapterLabel: String
    let choices: [OpenAIChoice]
    let promptTokens: Int
    var completionTokens: Int { choices.map(\.tokens).reduce(0, +) }

    func json(chat: Bool) -> [String: Any] {
        let rendered: [[String: Any]] = choices.enumerated().map { i, c in
            var choice: [String: Any] = ["index": i, "finish_reason": c.finishReason, "logprobs": NSNull()]
            if chat {
                choice["message"] = ["role": "assistant", "content": c.text, "refusal": NSNull()] as [String: Any]
            } else {
                choice["text"] = c.text
            }
            return choice
        }
        return ["id": (chat ? "chatcmpl-" : "cmpl-") + id, "object": chat ? "chat.completion" : "text_completion",
                "created": created, "model": model, "choices": rendered,
                "usage": ["prompt_tokens": promptTokens, "completion_tokens": completionTokens,
                          "total_tokens": promptTokens + completionTokens]]
    }
}

extension APIServer {
    /// Runs every prompt `n` times through the service's summarize path (template "{dialogue}",
    /// so the encoder sees the prompt exactly), all queued at once so the engine batches them.
    /// With a seed, choice i samples with seed + i: choice 0 equals the same request with n = 1.
    func complete(_ request: OpenAICompletionRequest) throws(OpenAIError) -> OpenAICompletion {
        let served = try servedModel(request.model)
        var jobs: [SummarizeRequest] = []
        for prompt in request.prompts {
            for i in 0..<request.n {
                var p = request.parameters
                p.seed = p.seed.map { $0 &+ UInt64(i) }
                jobs.append(SummarizeRequest(dialogue: prompt, adapters: served.adapters, task: served.task,
                                             promptTemplate: "{dialogue}", parameters: p, returnTokenIDs: true))
            }
        }
        let results = try runAll(jobs)
        let choices = results.map { finish($0, stop: request.stop) }
        let promptTokens = stride(from: 0, to: results.count, by: request.n).map { results[$0].inputTokens }.reduce(0, +)
        // Every job resolved the same model; a route or adapter replaced meanwhile is reported as the first job saw it.
        let adapter = results[0].adapter?.name
        return OpenAICompletion(id: RequestID.generate(), created: Int(Date().timeIntervalSince1970), model: adapter ?? baseModelID,
                                adapterLabel: adapter ?? "base", choices: choices, promptTokens: promptTokens)
    }

    /// Each waiter blocks on a thread of its own (never the cooperative pool) while the engine batches.
    private func runAll(_ jobs: [SummarizeRequest]) throws(OpenAIError) -> [SummarizeResult] {
        let slots = ResultSlots<SummarizeResult>(count: jobs.count)
        let group = DispatchGroup()
        if jobs.count == 1 { slots.set(0, Result { () throws(ServiceError) in try service.summarize(jobs[0]) }) }
        for (i, job) in jobs.enumerated() where jobs.count > 1 {
            group.enter()
            Thread.detachNewThread { [service] in
                slots.set(i, Result { () throws(ServiceError) in try service.summarize(job) })
                group.leave()
            }
        }
        group.wait()
        var out: [SummarizeResult] = []
        for r in slots.values {
            switch r! {
            case .success(let s): out.append(s)
            case .failure(let e) where e.code == "input_too_long":
                throw OpenAIError(status: 400, code: "context_length_exceeded", message: e.message, param: "prompt")
            case .failure(let e): throw OpenAIError(e)
            }
        }
        return out
    }

    /// Cuts the text before the earliest stop sequence, counting only the tokens needed to reach it.
    func finish(_ r: SummarizeResult, stop: [String]) -> OpenAIChoice {
        let eos = service.model.config.eosTokenID
        let ended = r.tokenIDs.last == eos ? "stop" : "length"
        guard !stop.isEmpty, stop.contains(where: r.summary.contains) else {
            return OpenAIChoice(text: r.summary, tokens: r.tokenIDs.count, finishReason: ended)
        }
        for k in 1...r.tokenIDs.count {
            let text = service.tokenizer.decode(Array(r.tokenIDs.prefix(k)))
            if let cut = stop.compactMap({ text.range(of: $0)?.lowerBound }).min() {
                return OpenAIChoice(text: String(text[..<cut]), tokens: k, finishReason: "stop")
            }
        }
        return OpenAIChoice(text: r.summary, tokens: r.tokenIDs.count, finishReason: ended)
    }
}


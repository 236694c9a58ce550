import Foundation
import HTTPCore
import Serving

/// `stream: true` on /v1/completions and /v1/chat/completions: OpenAI's server-sent events.
/// Each choice's text arrives as deltas (`choices[].text`, or `choices[].delta.content` for
/// chat after a first `delta.role` chunk), then a chunk with its `finish_reason`; after every
/// choice has ended, `data: [DONE]`. Choices of one request interleave, told apart by `index`.
/// Joined, a choice's deltas equal the non-streamed choice's text for the same request.
final class OpenAIStreamSession: @unchecked Sendable {
    // @unchecked: everything but `generations` is only touched on `events.queue`;
    // `generations` is guarded by `lock`.
    let events: EventStream
    let chat: Bool
    let id: String
    let created = Int(Date().timeIntervalSince1970)
    let eos: Int32
    let baseModelID: String
    private var deltas: [TextDeltas]
    private var ended: [Bool]
    private var model = ""
    private var adapterLabel = ""
    private let lock = NSLock()
    private var generations: [GenerationID] = []
    /// Called once on `events.queue` when the answer is complete: status and adapter label.
    var onEnd: (@Sendable (Int, String) -> Void)?
    /// Token counts and timing per finished choice, for the metrics.
    var onResult: (@Sendable (SummarizeResult) -> Void)?
    let cancel: @Sendable (GenerationID) -> Void

    init(events: EventStream, chat: Bool, choices: Int, stops: [String], eos: Int32, baseModelID: String,
         decode: @escaping ([Int32]) -> String, cancel: @escaping @Sendable (GenerationID) -> Void) {
        self.events = events
        self.chat = chat
        self.id = (chat ? "chatcmpl-" : "cmpl-") + RequestID.generate()
        self.eos = eos
        self.baseModelID = baseModelID
        self.deltas = Array(repeating: TextDeltas(stops: stops, decode: decode), count: choices)
        self.ended = Array(repeating: false, count: choices)
        self.cancel = cancel
    }

    func track(_ generation: GenerationID) {
        lock.lock(); generations.append(generation); lock.unlock()
    }

    /// Stops every generation of this request (client gone, or one choice failed).
    func cancelAll() {
        lock.lock(); let all = generations; lock.unlock()
        for g in all { cancel(g) }
    }

    // MARK: on events.queue

    func progress(_ choice: Int, _ p: SummaryProgress) {
        guard !events.closed else { return }
        if !events.started { begin(adapter: p.adapter) }
        let delta = deltas[choice].append(p.tokens)
        if !delta.isEmpty { send(chunk(choice, text: delta, finishReason: nil)) }
    }

    func completed(_ choice: Int, _ result: Result<SummarizeResult, ServiceError>) {
        guard !events.closed, !ended[choice] else { return }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let r):
            if !events.started { begin(adapter: r.adapter) }
            onResult?(r)
            let delta = deltas[choice].finish(final: r.summary)
            if !delta.isEmpty { send(chunk(choice, text: delta, finishReason: nil)) }
            let reason = deltas[choice].stopped || r.tokenIDs.last == eos ? "stop" : "length"
            send(chunk(choice, text: nil, finishReason: reason))
            ended[choice] = true
            if ended.allSatisfy({ $0 }) {
                events.send("[DONE]")
                events.finish()
                onEnd?(200, adapterLabel)
            }
        }
    }

    /// A choice failed: before the stream started, an ordinary OpenAI error response; after,
    /// an error event (OpenAI's shape) and the end of the stream, without `[DONE]`.
    func fail(_ error: ServiceError) {
        cancelAll()
        let e = error.code == "input_too_long"
            ? OpenAIError(status: 400, code: "context_length_exceeded", message: error.message, param: "prompt")
            : OpenAIError(error)
        if error.kind == .cancelled {
            events.abandon(e.response)
            onEnd?(APIServer.status(error.kind), adapterLabel)
        } else if events.started {
            events.send(String(decoding: e.response.body, as: UTF8.self))
            events.finish()
            onEnd?(e.status, adapterLabel)
        } else {
            var response = e.response
            response.headers.set(RequestID.header, events.responder.requestID)
            events.respond(response)
            onEnd?(e.status, adapterLabel)
        }
    }

    private func begin(adapter: AdapterReference?) {
        model = adapter?.name ?? baseModelID
        adapterLabel = adapter?.name ?? "base"
        var headers = HTTPHeaders()
        headers.set("X-Adapter", adapterLabel)
        events.start(headers: headers)
        if chat {
            for i in deltas.indices {
                send(["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                      "choices": [["index": i, "delta": ["role": "assistant", "content": ""], "logprobs": NSNull(),
                                   "finish_reason": NSNull()] as [String: Any]]])
            }
        }
    }

    private func chunk(_ choice: Int, text: String?, finishReason: String?) -> [String: Any] {
        var c: [String: Any] = ["index": choice, "logprobs": NSNull(), "finish_reason": finishReason.map { $0 as Any } ?? NSNull()]
        if chat {
            c["delta"] = text.map { ["content": $0] } ?? [String: Any]()
        } else {
            c["text"] = text ?? ""
        }
        return ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                "model": model, "choices": [c]]
    }

    private func send(_ object: [String: Any]) {
        if !events.send(String(decoding: APIServer.json(object), as: UTF8.self)) {
            // The client left (its hang-up also cancels through onCancel; this covers a write failure).
            cancelAll()
        }
    }
}

extension APIServer {
    /// POST on the completion paths, on the parsing queue: a valid `stream: true` request
    /// streams without a waiting thread; anything else (every error included) takes the
    /// blocking path on a thread of its own, which answers exactly as without streaming.
    func startOpenAI(_ r: HTTPRequest, _ responder: IdentifiedResponder) {
        let endpoint = Self.endpointName(r)
        let chat = endpoint == "/v1/chat/completions"
        if let body = try? JSONBody(r.body),
           let request = try? OpenAICompletionRequest(body, chat: chat, maxNewTokensCap: service.settings.maxNewTokensCap),
           request.stream {
            return streamCompletion(request, chat: chat, r, responder, endpoint: endpoint, started: Date())
        }
        let requestID = responder.requestID
        let thread = Thread { [self] in responder.respond(RequestID.with(requestID) { handleIdentified(r) }) }
        thread.name = "adapter-serve-api-request"
        thread.start()
    }

    /// Starts every choice's generation; the answer streams from the engine's callbacks.
    func streamCompletion(_ request: OpenAICompletionRequest, chat: Bool, _ r: HTTPRequest, _ responder: IdentifiedResponder,
                          endpoint: String, started: Date) {
        let served: ServedModel
        do { served = try servedModel(request.model) } catch {
            var response = error.response
            response.headers.set(RequestID.header, responder.requestID)
            responder.responder.respond(finished(r, endpoint: endpoint, response: response, adapterLabel: "", started: started))
            return
        }
        let tokenizer = service.tokenizer
        let session = OpenAIStreamSession(events: EventStream(responder: responder), chat: chat,
                                          choices: request.prompts.count * request.n, stops: request.stop,
                                          eos: service.model.config.eosTokenID, baseModelID: baseModelID,
                                          decode: { tokenizer.decode($0) }, cancel: { [service] in service.cancel($0) })
        let requestID = responder.requestID
        session.onResult = { [metrics] result in
            let label = result.adapter?.name ?? "base"
            metrics.recordTokens(adapter: label, input: result.inputTokens, output: result.outputTokens)
            metrics.recordTokenTiming(adapter: label, result)
        }
        session.onEnd = { [self] status, label in
            RequestID.with(requestID) {
                _ = finished(r, endpoint: endpoint, response: HTTPResponse(status: status), adapterLabel: label, started: started)
            }
        }
        responder.onCancel { session.cancelAll() }
        var choice = 0
        for prompt in request.prompts {
            for i in 0..<request.n {
                var p = request.parameters
                p.seed = p.seed.map { $0 &+ UInt64(i) }
                let job = SummarizeRequest(dialogue: prompt, adapters: served.adapters, task: served.task,
                                           promptTemplate: "{dialogue}", parameters: p, returnTokenIDs: true)
                let index = choice
                choice += 1
                do {
                    let generation = try service.startSummarize(job, onProgress: { progress in
                        session.events.queue.async { session.progress(index, progress) }
                    }, completion: { result in
                        session.events.queue.async { session.completed(index, result) }
                    })
                    session.track(generation)
                } catch {
                    session.events.queue.async { session.fail(error) }
                    return
                }
            }
        }
    }
}

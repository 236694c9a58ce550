import Foundation
import HTTPCore
import Serving

extension APIServer {
    /// POST /v1/summarize with `"stream": true`: server-sent events, one per generated token
    /// (`event: token`, data `{"text": <the summary so far>, "output_tokens": k}`), then
    /// `event: summary` whose data is exactly the non-streamed response object (adapter, usage,
    /// timing). Beam search streams no token events: its best beam is only known at the end. A
    /// failure after the first event ends the stream with `event: error` and the error object.
    func streamSummary(_ request: SummarizeRequest, _ r: HTTPRequest, _ responder: IdentifiedResponder,
                       started: Date) throws(ServiceError) {
        let endpoint = "/v1/summarize"
        let events = EventStream(responder: responder)
        let tokenizer = service.tokenizer
        let requestID = responder.requestID
        // Only touched on events.queue.
        final class State: @unchecked Sendable {
            var deltas: TextDeltas
            var count = 0
            init(_ deltas: TextDeltas) { self.deltas = deltas }
        }
        let state = State(TextDeltas(decode: { tokenizer.decode($0) }))
        let end: @Sendable (Int, String) -> Void = { [self] status, label in
            RequestID.with(requestID) {
                _ = finished(r, endpoint: endpoint, response: HTTPResponse(status: status), adapterLabel: label, started: started)
            }
        }
        let parametersAreBeam = request.parameters.numBeams > 1
        let id = try service.startSummarize(request, onProgress: { progress in
            events.queue.async {
                guard !events.closed else { return }
                if !events.started {
                    var headers = HTTPHeaders()
                    headers.set("X-Adapter", progress.adapter?.name ?? "base")
                    events.start(headers: headers)
                }
                guard !parametersAreBeam else { return }
                _ = state.deltas.append(progress.tokens)
                state.count += progress.tokens.count
                events.send(String(decoding: Self.json(["text": state.deltas.text, "output_tokens": state.count]), as: UTF8.self),
                            event: "token")
            }
        }, completion: { [self] result in
            events.queue.async { [self] in
                guard !events.closed else { return }
                switch result {
                case .success(let summary):
                    let (response, label) = summaryResponse(summary, returnTokenIDs: request.returnTokenIDs)
                    if !events.started {
                        events.start(headers: response.headers)
                    }
                    events.send(String(decoding: response.body, as: UTF8.self), event: "summary")
                    events.finish()
                    end(200, label)
                case .failure(let error) where error.kind == .cancelled:
                    events.abandon(Self.errorResponse(error, r))
                    end(Self.status(error.kind), "")
                case .failure(let error):
                    let response = Self.errorResponse(error, r)
                    if events.started {
                        events.send(String(decoding: response.body, as: UTF8.self), event: "error")
                        events.finish()
                    } else {
                        var stamped = response
                        stamped.headers.set(RequestID.header, requestID)
                        events.respond(stamped)
                    }
                    end(response.status, "")
                }
            }
        })
        responder.onCancel { [service] in service.cancel(id) }
    }
}

import Foundation
import HTTPCore
import Serving

/// The OpenAI-compatible paths: every failure here is answered in OpenAI's error shape, so
/// the official clients (openai, LangChain, ...) raise their usual exceptions.
enum OpenAIEndpoints {
    static let paths: Set<String> = ["/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/models/{model}"]
}

extension APIServer {
    func openAI(_ r: HTTPRequest, endpoint: String, adapterLabel: inout String) -> HTTPResponse {
        do throws(OpenAIError) {
            let allowed = RouteTable.methods(for: endpoint)
            guard allowed.contains(r.method) else {
                var e = OpenAIError(status: 405, code: "method_not_allowed", message: "\(r.method) is not allowed on \(endpoint)")
                e.allow = allowed
                throw e
            }
            switch endpoint {
            case "/v1/models":
                return .json(rawJSON: Self.json(["object": "list", "data": modelList()]))
            case "/v1/models/{model}":
                return .json(rawJSON: Self.json(try model(id: r.pathSegments[2])))
            default:
                let chat = endpoint == "/v1/chat/completions"
                let body: JSONBody
                do { body = try JSONBody(r.body) } catch { throw OpenAIError(error) }
                let request = try OpenAICompletionRequest(body, chat: chat, maxNewTokensCap: service.settings.maxNewTokensCap)
                let completion = try complete(request)
                adapterLabel = completion.adapterLabel
                metrics.recordTokens(adapter: adapterLabel, input: completion.promptTokens, output: completion.completionTokens)
                var headers = HTTPHeaders()
                headers.set("X-Adapter", adapterLabel)
                headers.set("X-Input-Tokens", String(completion.promptTokens))
                headers.set("X-Output-Tokens", String(completion.completionTokens))
                return .json(rawJSON: Self.json(completion.json(chat: chat)), headers: headers)
            }
        } catch {
            return error.response
        }
    }
}

import Foundation
import Serving

/// What an OpenAI `model` names: the base model (its id or "base"), an adapter (or a LoRA and a
/// soft prompt stacked as "lora+prompt"), or a task, served by the adapter active for it.
enum ServedModel: Equatable {
    case base
    case adapters([String])
    case task(String)

    /// The service's request fields for it. The base is an explicit empty adapter list, so a
    /// configured default task does not stand in for it.
    var adapters: [String]? {
        switch self {
        case .base: []
        case .adapters(let names): names
        case .task: nil
        }
    }

    var task: String? { if case .task(let t) = self { t } else { nil } }
}

extension APIServer {
    /// The base model's id in /v1/models: its directory's name (e.g. "flan-t5-base").
    var baseModelID: String { URL(fileURLWithPath: service.settings.model).standardizedFileURL.lastPathComponent }

    static let owner = "adapter-serve"

    /// Adapters first by name, then tasks: "base" and the base id always mean the base model.
    func servedModel(_ id: String) throws(OpenAIError) -> ServedModel {
        if id == "base" || id == baseModelID { return .base }
        let names = id.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        if (1...2).contains(names.count), names.allSatisfy({ service.registry.summary($0) != nil }) { return .adapters(names) }
        if service.tasks()[id] != nil { return .task(id) }
        throw OpenAIError(status: 404, code: "model_not_found",
                          message: "the model '\(id.prefix(200))' does not exist; use \"base\", \"\(baseModelID)\", an adapter name or a task name (GET /v1/models lists them)",
                          param: "model")
    }

    func modelList() -> [[String: Any]] {
        [baseModelObject()] + service.listAdapters().map(adapterModelObject)
    }

    func model(id: String) throws(OpenAIError) -> [String: Any] {
        if id == "base" || id == baseModelID { return baseModelObject() }
        if let record = try? service.record(id) { return adapterModelObject(record) }
        throw OpenAIError(status: 404, code: "model_not_found",
                          message: "the model '\(id.prefix(200))' does not exist (GET /v1/models lists the base model and every adapter)",
                          param: "model")
    }

    /// `created` is when the checkpoint was written (its config.json), in Unix seconds.
    func baseModelObject() -> [String: Any] {
        let config = URL(fileURLWithPath: service.settings.model).appendingPathComponent("config.json").path
        let modified = (try? FileManager.default.attributesOfItem(atPath: config))?[.modificationDate] as? Date
        return ["id": baseModelID, "object": "model", "created": Int(modified?.timeIntervalSince1970 ?? 0), "owned_by": Self.owner]
    }

    /// vLLM's shape for a LoRA: `parent` and `root` are the base id.
    func adapterModelObject(_ a: AdapterRecord) -> [String: Any] {
        var options = ISO8601DateFormatter.Options.withInternetDateTime
        options.insert(.withFractionalSeconds)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = options
        let created = formatter.date(from: a.createdAt).map { Int($0.timeIntervalSince1970) } ?? 0
        return ["id": a.name, "object": "model", "created": created, "owned_by": Self.owner, "parent": baseModelID, "root": baseModelID]
    }
}

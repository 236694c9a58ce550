import Foundation
import HTTPCore
import Serving

extension APIServer {
    /// POST /v1/evaluate: {"items": [{"dialogue", "reference"}], "adapters": ["base", "name", ...],
    /// "prompt_template"?, "parameters"?}. Bounded so one call cannot monopolise the engine.
    func evaluate(_ r: HTTPRequest) throws(ServiceError) -> HTTPResponse {
        let body = try JSONBody(r.body)
        try body.rejectUnknown(["items", "adapters", "prompt_template", "parameters"])
        guard let rawItems = try body.array("items"), !rawItems.isEmpty else { throw .badRequest("items must be a non-empty array") }
        let limit = service.settings.maxEvaluateItems
        guard rawItems.count <= limit else {
            throw .unprocessable("too_many_items", "items has \(rawItems.count) entries; the limit is \(limit)")
        }
        var items: [EvaluationItem] = []
        for (i, raw) in rawItems.enumerated() {
            guard let d = raw as? [String: Any] else { throw .badRequest("items[\(i)] must be an object") }
            let item = JSONBody(fields: d, path: "items[\(i)]")
            try item.rejectUnknown(["dialogue", "reference"])
            items.append(EvaluationItem(dialogue: try item.requiredString("dialogue"), reference: try item.requiredString("reference")))
        }
        var candidates: [[String]?] = [nil]
        if let names = try body.array("adapters") {
            guard !names.isEmpty, names.count <= 8 else { throw .badRequest("adapters must list 1 to 8 candidates (\"base\" for the base model)") }
            candidates = []
            for (i, n) in names.enumerated() {
                guard let name = n as? String else { throw .badRequest("adapters[\(i)] must be a string") }
                candidates.append(name == "base" ? nil : name.split(separator: "+").map(String.init))
            }
        }
        for case let names? in candidates {
            for n in names { _ = try service.record(n) }
        }
        let template = try body.string("prompt_template")
        let parameters = try Self.parameters(try body.object("parameters"))
        let rows = try Evaluation.run(items: items, candidates: candidates) { names, dialogues throws(ServiceError) in
            try service.summarizeAll(adapters: names, dialogues: dialogues, template: template, parameters: parameters)
        }
        let base = rows.first { $0.candidate == "base" }
        let out = rows.map { $0.json(base: base, includePredictions: true) }
        return .json(rawJSON: Self.json(["items": items.count, "rows": out]))
    }
}

/// Every route the server answers, in one table: it names endpoints for metrics and logs,
/// gives the `Allow` header of a 405, and is what the OpenAPI document is checked against, so a
/// route cannot be added to the server without the test noticing that the document lacks it.
public enum RouteTable {
    /// Path templates as OpenAPI writes them; `{x}` matches exactly one path segment.
    public static let routes: [(template: String, methods: [String])] = [
        ("/healthz", ["GET", "HEAD"]),
        ("/readyz", ["GET", "HEAD"]),
        ("/metrics", ["GET"]),
        ("/openapi.json", ["GET"]),
        ("/v1/summarize", ["POST"]),
        ("/v1/evaluate", ["POST"]),
        ("/v1/adapters", ["GET"]),
        ("/v1/adapters/{name}", ["GET", "PUT", "DELETE"]),
        ("/v1/adapters/{name}/activate", ["POST"]),
        ("/v1/tasks", ["GET"]),
        ("/v1/tasks/{task}", ["DELETE"]),
        ("/v1/completions", ["POST"]),
        ("/v1/chat/completions", ["POST"]),
        ("/v1/models", ["GET"]),
        ("/v1/models/{model}", ["GET"]),
    ]

    /// The template whose segments match `segments` (already percent-decoded), or nil.
    public static func template(for segments: [String]) -> String? {
        routes.first { route in
            let parts = route.template.split(separator: "/")
            guard parts.count == segments.count else { return false }
            return zip(parts, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }?.template
    }

    public static func methods(for template: String) -> [String] {
        routes.first { $0.template == template }?.methods ?? []
    }
}

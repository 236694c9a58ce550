import Foundation
import HTTPTesting
import Testing
@testable import API

/// The OpenAPI document and the server agree: every route in the server's table is documented
/// with the same methods and the reverse, the live server answers every documented operation
/// (no "no route" 404, no 405) and refuses every other method on those paths with a 405, and
/// GET /openapi.json serves exactly the committed file.
@Suite(.serialized) struct OpenAPIRouteTests {
    static let httpMethods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"]

    static func committed() throws -> [String: Any] {
        let data = try Data(contentsOf: Paths.repo.appendingPathComponent("openapi.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func documentedRoutes(_ doc: [String: Any]) throws -> [String: Set<String>] {
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        return paths.mapValues { ops in Set(ops.keys.map { $0.uppercased() }.filter(httpMethods.contains)) }
    }

    @Test func documentAndRouteTableListTheSameOperations() throws {
        let doc = try Self.committed()
        #expect(doc["openapi"] as? String == "3.1.0")
        let documented = try Self.documentedRoutes(doc)
        let served = Dictionary(uniqueKeysWithValues: RouteTable.routes.map { ($0.template, Set($0.methods)) })
        for (path, methods) in served {
            #expect(documented[path] == methods, "\(path): served \(methods.sorted()), documented \(documented[path]?.sorted() ?? [])")
        }
        for path in documented.keys where served[path] == nil {
            Issue.record("\(path) is documented but the server has no such route")
        }
    }

    @Test func liveServerAnswersExactlyTheTable() throws {
        let live = try LiveService()
        defer { live.stop() }
        for route in RouteTable.routes {
            let path = route.template.replacingOccurrences(of: #"\{[a-z]+\}"#, with: "x", options: .regularExpression)
            for method in Self.httpMethods {
                let res = try live.call(method, path, extra: method == "HEAD" ? ["-I"] : [])
                if route.methods.contains(method) {
                    #expect(res.status != 405 && res.errorCode != "not_found", "\(method) \(path): \(res.status) \(res.text)")
                } else {
                    #expect(res.status == 405, "\(method) \(path) answered \(res.status)")
                    #expect(res.headers["Allow"] == route.methods.joined(separator: ", "), "\(method) \(path)")
                }
            }
        }
        #expect(try live.call("GET", "/v1/not-a-route").errorCode == "not_found")
    }

    @Test func servedDocumentIsTheCommittedFile() throws {
        let live = try LiveService()
        defer { live.stop() }
        let res = try live.call("GET", "/openapi.json")
        #expect(res.status == 200 && res.headers["Content-Type"]?.hasPrefix("application/json") == true)
        #expect(res.body == (try Data(contentsOf: Paths.repo.appendingPathComponent("openapi.json"))))
    }
}

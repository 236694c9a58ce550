import Foundation
import Serving

/// A parsed JSON object body with typed field access whose errors name the field, so a client
/// learns exactly what to fix ("parameters.num_beams must be an integer").
struct JSONBody {
    let fields: [String: Any]
    let path: String

    init(_ data: Data) throws(ServiceError) {
        guard !data.isEmpty else { throw .badRequest("the request body is empty; send a JSON object") }
        guard String(data: data, encoding: .utf8) != nil else {
            throw ServiceError(.invalidRequest, "invalid_utf8", "the request body is not valid UTF-8")
        }
        if let problem = data.withUnsafeBytes({ StrictJSON.problem(in: $0) }) {
            throw ServiceError(.invalidRequest, "malformed_json", "the request body is not valid JSON: \(problem)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw ServiceError(.invalidRequest, "malformed_json", "the request body is not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw ServiceError(.invalidRequest, "malformed_json", "the request body must be a JSON object") }
        fields = dict
        path = ""
    }

    init(fields: [String: Any], path: String) { self.fields = fields; self.path = path }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { fields[key] != nil && !(fields[key] is NSNull) }

    func string(_ key: String) throws(ServiceError) -> String? {
        guard has(key) else { return nil }
        guard let s = fields[key] as? String else { throw .badRequest("\(name(key)) must be a string") }
        return s
    }

    func requiredString(_ key: String) throws(ServiceError) -> String {
        guard let s = try string(key) else { throw .badRequest("\(name(key)) is required") }
        return s
    }

    func bool(_ key: String) throws(ServiceError) -> Bool? {
        guard has(key) else { return nil }
        guard let n = fields[key] as? NSNumber, Self.isBool(n) else {
            throw .badRequest("\(name(key)) must be true or false")
        }
        return n.boolValue
    }

    func int(_ key: String) throws(ServiceError) -> Int? {
        guard has(key) else { return nil }
        guard let n = fields[key] as? NSNumber, !Self.isBool(n), n.doubleValue == n.doubleValue.rounded(),
              abs(n.doubleValue) < 1e15 else {
            throw .badRequest("\(name(key)) must be an integer")
        }
        return n.intValue
    }

    func double(_ key: String) throws(ServiceError) -> Double? {
        guard has(key) else { return nil }
        guard let n = fields[key] as? NSNumber, !Self.isBool(n), n.doubleValue.isFinite else {
            throw .badRequest("\(name(key)) must be a number")
        }
        return n.doubleValue
    }

    func object(_ key: String) throws(ServiceError) -> JSONBody? {
        guard has(key) else { return nil }
        guard let d = fields[key] as? [String: Any] else { throw .badRequest("\(name(key)) must be an object") }
        return JSONBody(fields: d, path: name(key))
    }

    func array(_ key: String) throws(ServiceError) -> [Any]? {
        guard has(key) else { return nil }
        guard let a = fields[key] as? [Any] else { throw .badRequest("\(name(key)) must be an array") }
        return a
    }

    func rejectUnknown(_ allowed: Set<String>) throws(ServiceError) {
        if let unknown = fields.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw .badRequest("unknown field \(name(unknown)); allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// JSON true/false arrive as boolean NSNumbers (objCType "c"); 0 and 1 do not.
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}

import Foundation
import HTTPCore

public struct CurlResponse {
    public var status: Int
    /// Headers of the final response (after any "100 Continue").
    public var headers: HTTPHeaders
    public var body: Data

    public var text: String { String(decoding: body, as: UTF8.self) }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: body)
    }
}

/// Runs curl against the test server; `arguments` are the request-specific options and URL.
public func curl(_ arguments: [String]) throws -> CurlResponse {
    let scratch = try TemporaryDirectory()
    let headerFile = scratch.file("headers")
    let bodyFile = scratch.file("body")
    let result = try runProcess("/usr/bin/curl", ["-sS", "--max-time", "60", "-D", headerFile.path,
                                                  "-o", bodyFile.path, "-w", "%{http_code}"] + arguments)
    let headerText = String(decoding: (try? Data(contentsOf: headerFile)) ?? Data(), as: UTF8.self)
    return CurlResponse(status: Int(result.stdoutText) ?? -1, headers: parseLastHeaderBlock(headerText),
                        body: (try? Data(contentsOf: bodyFile)) ?? Data())
}

private func parseLastHeaderBlock(_ text: String) -> HTTPHeaders {
    var headers = HTTPHeaders()
    for line in text.components(separatedBy: "\r\n") {
        if line.hasPrefix("HTTP/") {
            headers = HTTPHeaders()  // a new response block (after 100 Continue) starts over
        } else if let colon = line.firstIndex(of: ":") {
            headers.add(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }
    return headers
}

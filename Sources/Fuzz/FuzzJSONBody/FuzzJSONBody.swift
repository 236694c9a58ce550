import Foundation
import FuzzSupport
import HTTPCore
import Logging
import Serving
#if DEBUG
@testable import API
#endif

/// Untrusted JSON bodies through the real summarize endpoint (body decoding, field types and
/// ranges, prompt template, tokenization, a short generation) of a service on the tiny fixture
/// model. Reaches `APIServer.handle` through `@testable`, so no server or socket is involved.
/// A 5xx other than 503 is a finding: bad input must be answered 4xx.
@main enum FuzzJSONBody {
    #if !DEBUG
    static func main() {
        // `swift build -c release` builds every product; @testable needs the debug build.
        FileHandle.standardError.write(Data("FuzzJSONBody reaches APIServer.handle through @testable: use a debug build\n".utf8))
        exit(2)
    }
    #else
    static func main() {
        let root = FuzzTarget.repositoryRoot()
        var settings = ServiceSettings()
        settings.model = root.appendingPathComponent("Tests/Fixtures/models/tiny-flan").path
        settings.tokenizer = root.appendingPathComponent("assets/flan-t5-base").path
        settings.adapters = FileManager.default.temporaryDirectory
            .appendingPathComponent("fuzz-json-adapters-\(getpid())").path
        // Small caps keep each accepted input to a few milliseconds of generation.
        settings.maxInputTokens = 256
        settings.maxNewTokensCap = 8
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        let server: APIServer
        do { server = APIServer(service: try AdapterServeService(settings: settings, logger: logger), logger: logger) } catch {
            fatalError("cannot start the service on the tiny fixture model: \(error.message)")
        }
        var headers = HTTPHeaders()
        headers.set("Content-Type", "application/json")
        FuzzTarget.run { data in
            let response = server.handle(HTTPRequest(method: "POST", path: "/v1/summarize", headers: headers, body: data))
            precondition(response.status < 500 || response.status == 503,
                         "status \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
    }
    #endif
}

import API
import ArgumentParser
import Foundation
import Logging
import Serving

/// `serve`'s access flags (issue 18). They override the config file and environment like the
/// other flags; the protected-mode decision itself lives in `ProtectedMode` (API).
struct AccessOptions: ParsableArguments {
    @Option(help: ArgumentHelp("enabled, or disabled: uploads, deletes and activations answer 405.", valueName: "mode"))
    var adminEndpoints: AccessSettings.AdminEndpoints?
    @Flag(help: "Serve the admin endpoints without a token even off loopback (warns at start and on every admin call).")
    var allowOpenAdmin = false
    @Option(help: ArgumentHelp("API keys for inference, one per line; re-read on SIGHUP.", valueName: "file"))
    var apiKeyFile: String?
    @Option(help: "Serve /metrics on this port instead of the main one (0 picks a free port).")
    var metricsPort: Int?

    func apply(to settings: inout ServiceSettings) {
        if let adminEndpoints { settings.access.adminEndpoints = adminEndpoints }
        if allowOpenAdmin { settings.access.allowOpenAdmin = true }
        if let apiKeyFile { settings.access.apiKeyFile = apiKeyFile }
        if let metricsPort { settings.access.metricsPort = metricsPort }
    }

    /// SIGHUP re-reads the API key file. A dispatch source runs the reload on a queue, outside
    /// the signal context, where locking and file I/O are safe. Keep the returned source alive.
    static func reloadKeysOnSIGHUP(_ server: APIServer, logger: Logger) -> DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do {
                guard let count = try server.reloadAPIKeys() else {
                    logger.notice("SIGHUP ignored: no API key file (--api-key-file) to reload")
                    return
                }
                logger.notice("reloaded the API key file", metadata: ["keys": "\(count)"])
            } catch {
                logger.error("could not reload the API key file; the previous keys stay in force", metadata: ["reason": "\(error)"])
            }
        }
        source.resume()
        return source
    }
}

extension AccessSettings.AdminEndpoints: ExpressibleByArgument {}

import ArgumentParser
import Foundation

/// `healthcheck`: the container image's HEALTHCHECK. The Debian slim runtime image has no curl,
/// so the binary probes itself: exit 0 when GET URL answers 200, 1 otherwise (with the reason).
struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 if GET URL answers 200 (default: /healthz on ADAPTER_SERVE_PORT, else 8080, on 127.0.0.1).")

    @Option(help: "http:// URL to GET (default http://127.0.0.1:$ADAPTER_SERVE_PORT/healthz).") var url: String?
    @Option(help: "Seconds allowed for connecting and reading the status line.") var timeout: Double = 5

    func run() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds") }
        let port = ProcessInfo.processInfo.environment["ADAPTER_SERVE_PORT"] ?? "8080"
        let target = url ?? "http://127.0.0.1:\(port)/healthz"
        let probe: HTTPStatusProbe
        do { probe = try HTTPStatusProbe(url: target) } catch { throw ValidationError("\(error)") }
        let status: Int
        do { status = try probe.status(timeout: timeout) } catch {
            FileHandle.standardError.write(Data("unhealthy: \(target): \(error)\n".utf8))
            throw ExitCode.failure
        }
        guard status == 200 else {
            FileHandle.standardError.write(Data("unhealthy: \(target) answered \(status)\n".utf8))
            throw ExitCode.failure
        }
        print("healthy: \(target) answered 200")
    }
}

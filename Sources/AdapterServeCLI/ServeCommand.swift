import ArgumentParser
import Foundation
import Logging
import API
import Serving
import Numerics

/// `serve`: the HTTP service. Settings: built-in defaults < config file < ADAPTER_SERVE_*
/// environment < command-line flags.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the HTTP service.")

    @OptionGroup var files: SettingsOptions   // --config, --model, --tokenizer, --adapters
    @Option(help: "Address to bind.") var host: String?
    @Option(help: "Port (0 picks a free port and logs it).") var port: Int?
    @Option(help: "Task used when a request names no adapter or task.") var defaultTask: String?
    @Option(help: "How the base's weights are held: fp32 (default, token-exact), bf16, int8 or nf4 (QLoRA's 4-bit NormalFloat).")
    var weights: WeightFormat?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @OptionGroup var access: AccessOptions  // issue 18 (AccessOptions.swift)
    @Option(help: "Log format: text, json (one object per line) or auto (text on a terminal, else json).") var logFormat: String?

    func run() throws {
        var settings = try files.resolve()
        if let host { settings.host = host }
        if let port { settings.port = port }
        if let defaultTask { settings.defaultTask = defaultTask }
        if let weights { settings.weights = weights.rawValue }
        access.apply(to: &settings)  // issue 18
        if case .refuse(let message) = ProtectedMode.decide(settings) { throw CLIError(description: message) }  // issue 18, before the slow model load

        let level = Logger.Level(rawValue: logLevel) ?? .info
        let formatName = logFormat ?? settings.logFormat ?? LogFormat.auto.rawValue
        guard let format = LogFormat(rawValue: formatName) else {
            throw CLIError(description: "log format '\(formatName)' is not one of: text, json, auto")
        }
        format.bootstrap(level: level)
        let logger = Logger(label: "adapter-serve")
        guard FileManager.default.fileExists(atPath: URL(fileURLWithPath: settings.model).appendingPathComponent("config.json").path) else {
            throw CLIError(description: """
                no model at \(settings.model) (config.json missing). Download FLAN-T5-base once, e.g.
                  adapter-serve pull google/flan-t5-base --dir \(settings.model)
                or pass --model DIR (see README: "Getting the model").
                """)
        }
        // Start-up order (issue 12): bind first, answering /healthz 200 and /readyz 503 "loading",
        // then load; "starting on" precedes the load and "listening on" follows it.
        let gate = StartupGate(settings: settings)
        try CLIError.wrap { try gate.start() }
        logger.info("bound, loading model", metadata: ["host": "\(settings.host)", "port": "\(gate.boundPort)",
                                                      "model": "\(settings.model)", "adapters": "\(settings.adapters)"])
        FileHandle.standardOutput.write(Data("starting on http://\(settings.host):\(gate.boundPort) (loading)\n".utf8))
        let service = try CLIError.wrap { try AdapterServeService(settings: settings, logger: logger) }
        for (name, reason) in service.skippedAdapters.sorted(by: { $0.key < $1.key }) {
            logger.warning("adapter skipped", metadata: ["adapter": "\(name)", "reason": "\(reason)"])
        }
        let server = APIServer(service: service, logger: logger, transport: gate.transport)
        let keyReload = AccessOptions.reloadKeysOnSIGHUP(server, logger: logger)  // issue 18
        try CLIError.wrap { try server.start() }  // access rules, metrics listener (the transport already listens)
        gate.open(server)
        logger.info("listening", metadata: ["host": "\(settings.host)", "port": "\(server.boundPort)"])
        FileHandle.standardOutput.write(Data("listening on http://\(settings.host):\(server.boundPort)\n".utf8))
        if let port = server.metricsBoundPort {  // issue 18: --metrics-port
            FileHandle.standardOutput.write(Data("metrics on http://\(settings.host):\(port)/metrics\n".utf8))
        }

        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let done = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                logger.info("draining", metadata: ["signal": "\(sig)"])
                server.drainAndStop()
                logger.info("stopped")
                done.signal()
            }
            source.resume()
            sources.append(source)
        }
        done.wait()
        _ = (sources, keyReload)
    }
}

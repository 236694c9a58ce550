import ArgumentParser
import Foundation
import Serving

/// The flags every command that reads the service's settings shares (`serve`, `pull --adapter`),
/// and the one order they resolve in: built-in defaults < --config file < ADAPTER_SERVE_*
/// environment < these flags. A command adds its own flags on top of `resolve()`'s result.
struct SettingsOptions: ParsableArguments {
    @Option(help: "JSON settings file (see config/adapter-serve.json).") var config: String?
    @Option(help: "Hugging Face model directory (google/flan-t5-base snapshot; default: the configured one).") var model: String?
    @Option(help: "Directory with tokenizer.json, if not the model directory.") var tokenizer: String?
    @Option(help: "Adapters directory (created if missing; default: the configured one).") var adapters: String?

    func resolve() throws -> ServiceSettings {
        var settings = ServiceSettings()
        if let config { settings = try CLIError.wrap { try ServiceSettings.load(file: URL(fileURLWithPath: config)) } }
        try CLIError.wrap { try settings.apply(environment: ProcessInfo.processInfo.environment) }
        if let model { settings.model = model }
        if let tokenizer { settings.tokenizer = tokenizer }
        if let adapters { settings.adapters = adapters }
        return settings
    }
}

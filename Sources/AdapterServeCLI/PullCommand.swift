import ArgumentParser
import Foundation
import Hub
import Logging
import Serving

/// `pull`: files from the Hugging Face Hub. A base model's serving files into a model
/// directory, or (`--adapter`) a PEFT adapter validated against the base model and stored in
/// the adapters directory exactly as an HTTP upload would be.
struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a model or a PEFT adapter from the Hugging Face Hub.",
        discussion: """
            adapter-serve pull google/flan-t5-base [--revision REV] [--dir DIR]
            adapter-serve pull --adapter REPO_ID --name NAME [--adapters DIR] [--model DIR]

            Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (private or gated
            repositories), HF_HUB_OFFLINE=1 (no network: succeed only if the files are already
            complete). Exit status: 3 Hub unreachable, 4 not authorised, 5 not found, 6 checksum
            mismatch, 7 disk full, 8 offline and incomplete, 9 transfer interrupted (run again to
            resume), 10 Hub server error, 1 anything else.
            """)

    @Argument(help: "Model repository id, e.g. google/flan-t5-base.") var repo: String?
    @Option(help: "Branch, tag or commit.") var revision = "main"
    @Option(help: "Model directory to fill (default: models/<repository name>).") var dir: String?
    @Option(help: "Adapter repository id: pull a PEFT adapter instead of a model.") var adapter: String?
    @Option(help: "Name to store the adapter under (with --adapter).") var name: String?
    /// With --adapter: where it is stored (--adapters) and the base it must fit (--model).
    @OptionGroup var files: SettingsOptions
    @Flag(help: "Replace an adapter already stored under --name.") var replace = false
    @Option(help: "Seconds to wait for a connection to the Hub.") var connectTimeout = 10

    func validate() throws {
        switch (repo, adapter) {
        case (nil, nil): throw ValidationError("give a model repository id (e.g. google/flan-t5-base) or --adapter REPO_ID --name NAME")
        case (.some, .some): throw ValidationError("give either a model repository id or --adapter, not both")
        case (nil, .some):
            guard name != nil else { throw ValidationError("--adapter needs --name NAME: the name to serve it under") }
            guard dir == nil else { throw ValidationError("--dir is for models; adapters go to --adapters DIR") }
        case (.some, nil):
            guard name == nil, files.adapters == nil else { throw ValidationError("--name and --adapters go with --adapter") }
        }
        guard connectTimeout >= 1 else { throw ValidationError("--connect-timeout must be at least 1 second") }
    }

    func run() throws {
        var hub: HubSettings
        do { hub = try HubSettings(environment: ProcessInfo.processInfo.environment) } catch { throw fail(error) }
        hub.connectTimeoutSeconds = connectTimeout
        let puller = Puller(settings: hub)
        if let repo {
            let target = dir ?? "models/" + (repo.split(separator: "/").last.map(String.init) ?? repo)
            do {
                let result = try puller.pull(repo: repo, revision: revision, kind: .model, into: URL(fileURLWithPath: target))
                let fetched = result.offline ? "offline, nothing fetched" : "\(result.downloaded.count) file(s) downloaded"
                print("\(repo)@\(revision) is ready in \(target) (\(fetched)). Serve it with: adapter-serve serve --model \(target)")
            } catch { throw fail(error) }
        } else if let adapter, let name {
            try pullAdapter(adapter, as: name, puller: puller)
        }
    }

    /// Downloads into the store's own staging area, then hands the two files to the service's
    /// upload path (`putAdapter`): same validation against the base, same atomic store.
    private func pullAdapter(_ repoID: String, as name: String, puller: Puller) throws {
        let settings = try files.resolve()
        try CLIError.wrap { try AdapterStore.validateName(name) }
        let staging = URL(fileURLWithPath: settings.adapters)
            .appendingPathComponent(AdapterStore.reservedName).appendingPathComponent("pull")
            .appendingPathComponent(repoID.replacingOccurrences(of: "/", with: "--"))
        do {
            _ = try puller.pull(repo: repoID, revision: revision, kind: .adapter, into: staging)
        } catch let error as HubError where error.kind == .offline {
            throw fail(HubError(.offline, "HF_HUB_OFFLINE is set, so \(repoID) cannot be fetched (adapters are downloaded only to be stored; one already stored is served as it is). Unset HF_HUB_OFFLINE to pull it."))
        } catch { throw fail(error) }
        // Downloaded and checked: from here on the staged copy has served its purpose, whether
        // the adapter is accepted or refused (only an interrupted download is kept, to resume).
        defer { try? FileManager.default.removeItem(at: staging) }
        let configData = try CLIError.wrap { try Data(contentsOf: staging.appendingPathComponent("adapter_config.json")) }
        let weightsData = try CLIError.wrap { try Data(contentsOf: staging.appendingPathComponent("adapter_model.safetensors")) }
        var logger = Logger(label: "adapter-serve")
        logger.logLevel = .warning
        let service = try CLIError.wrap { try AdapterServeService(settings: settings, logger: logger) }
        defer { service.drain() }
        let record = try CLIError.wrap {
            try service.putAdapter(name: name, configData: configData, weightsData: weightsData, replace: replace)
        }
        print("stored adapter '\(record.name)' (\(record.kind), sha256 \(record.sha256)) from \(repoID)@\(revision) in \(settings.adapters); a server on that directory serves it")
    }

    /// Prints the Hub's message and exits with the status of its kind.
    private func fail(_ error: Error) -> Error {
        guard let hubError = error as? HubError else { return CLIError(description: "\(error)") }
        FileHandle.standardError.write(Data("Error: \(hubError.message)\n".utf8))
        return ExitCode(hubError.exitCode)
    }
}

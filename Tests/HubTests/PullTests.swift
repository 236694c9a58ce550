import Foundation
import HTTPTesting
@testable import Hub
import Testing

/// `Puller` against the fake Hub: the files arrive byte for byte, only the serving ones, the
/// token stays on the Hub's host, and every failure leaves nothing under a final name.
/// The sha256 the fake Hub lists for tiny-flan's model.safetensors (hashlib computes the same).
enum FileDigestNames {
    static let modelSHA = "f48e0576b570b03539f29cfb7c25d588ff05110126608272d50cc1a9c05e8b3c"
}

@Suite struct PullTests {
    let modelSize = Int((try? FileManager.default.attributesOfItem(atPath: Paths.tinyFlan.appendingPathComponent("model.safetensors").path)[.size] as? Int) ?? 0)

    func pull(_ hub: FakeHub, into dir: URL, repo: String = "tiny/flan", revision: String = "main", kind: PullKind = .model,
              settings: HubSettings? = nil, output: CapturedOutput = CapturedOutput()) throws(HubError) -> PullResult {
        try Puller(settings: settings ?? hub.settings(), progress: output.reporter).pull(repo: repo, revision: revision, kind: kind, into: dir)
    }

    /// The HubError `body` throws (nil if it succeeds or throws anything else).
    func hubError(_ body: () throws -> Void) -> HubError? {
        do { try body() } catch { return error as? HubError }
        return nil
    }

    func leftovers(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: PullLayout.incompleteDir(dir).path)) ?? []).sorted()
    }

    @Test func fullPullIsByteIdenticalAndFetchesOnlyServingFiles() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        let result = try pull(hub, into: dir)
        #expect(Set(result.files) == FakeRepo.tinyModelServingFiles)
        #expect(Set(result.downloaded) == FakeRepo.tinyModelServingFiles)
        #expect(result.commit == FakeRepo.tinyModel.commit)
        for name in FakeRepo.tinyModelServingFiles {
            let source = try #require(FakeRepo.tinyModel.files[name]).0
            #expect(try Data(contentsOf: dir.appendingPathComponent(name)) == Data(contentsOf: source), "\(name)")
        }
        let served = try hub.log()
        for unwanted in ["expected.json", "logits.safetensors"] {
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(unwanted).path))
            #expect(!served.contains { $0.path.hasSuffix(unwanted) })
        }
        #expect(served.filter { $0.server == "cdn" }.map(\.bytes).reduce(0, +) == modelSize + 2_424_064)
        #expect(!FileManager.default.fileExists(atPath: PullLayout.incompleteDir(dir).path))

        // A second pull finds everything in place and transfers nothing.
        let again = try pull(hub, into: dir)
        #expect(again.downloaded.isEmpty)
        #expect(try hub.log().count == served.count + 1)
    }

    @Test func tokenGoesToTheHubOnlyNeverToTheRedirectHost() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        let scratch = try TemporaryDirectory()
        _ = try pull(hub, into: scratch.file("model"))
        let served = try hub.log()
        let cdn = served.filter { $0.server == "cdn" }
        let hubSide = served.filter { $0.server == "hub" }
        #expect(cdn.count == 2)  // model.safetensors and tokenizer.json, both LFS
        #expect(cdn.allSatisfy { $0.authorization == nil })
        #expect(hubSide.count >= 8)
        #expect(hubSide.allSatisfy { $0.authorization == "Bearer \(FakeHub.token)" })
        // The relative 307 of a small file stays on the Hub's host, so it keeps the token.
        #expect(hubSide.contains { $0.path.hasPrefix("/api/resolve-cache/") && $0.status == 200 })
    }

    @Test func cutTransferResumesWithinTheRunFetchingOnlyTheRest() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        let cut = modelSize * 6 / 10
        try hub.control(["cut": ["model.safetensors": cut]])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        let output = CapturedOutput()
        _ = try pull(hub, into: dir, output: output)
        let transfers = try hub.log().filter { $0.server == "cdn" && $0.bytes > 0 && $0.bytes != 2_424_064 }
        try #require(transfers.count == 2)
        #expect(transfers[0].bytes == cut && transfers[0].range == nil)
        #expect(transfers[1].range == "bytes=\(cut)-" && transfers[1].status == 206)
        #expect(transfers[1].bytes == modelSize - cut)
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == Data(contentsOf: Paths.tinyFlan.appendingPathComponent("model.safetensors")))
        #expect(output.text.contains("connection dropped"))
        print("resume within a run: file \(modelSize) bytes; first try served \(transfers[0].bytes), resumed try served \(transfers[1].bytes)")
    }

    @Test func cutTransferResumesOnTheNextRunFetchingOnlyTheRest() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        let cut = modelSize * 6 / 10
        try hub.control(["cut": ["model.safetensors": cut]])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        let error = hubError { _ = try pull(hub, into: dir, settings: hub.settings(resumeAttempts: 0)) }
        #expect(error?.kind == .interrupted)
        #expect(error?.message.contains("run the same command again to resume") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path))
        #expect(leftovers(dir).count == 1)
        let first = try hub.log().filter { $0.server == "cdn" && $0.path.contains("/lfs/") }.last!

        let before = try hub.log().count
        _ = try pull(hub, into: dir)
        let second = try hub.log().dropFirst(before).filter { $0.server == "cdn" }
        try #require(second.count == 1)
        #expect(first.bytes == cut)
        #expect(second[0].range == "bytes=\(cut)-" && second[0].bytes == modelSize - cut)
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == Data(contentsOf: Paths.tinyFlan.appendingPathComponent("model.safetensors")))
        #expect(leftovers(dir).isEmpty)
        print("resume on the next run: file \(modelSize) bytes; first try served \(first.bytes), resumed try served \(second[0].bytes)")
    }

    @Test func serverIgnoringTheRangeRestartsThePartialCleanly() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        try hub.control(["cut": ["model.safetensors": modelSize / 2], "ignore_range": ["model.safetensors": true]])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        let output = CapturedOutput()
        _ = try pull(hub, into: dir, output: output)
        let transfers = try hub.log().filter { $0.server == "cdn" && $0.path.contains(FileDigestNames.modelSHA) }
        try #require(transfers.count == 2)
        #expect(transfers[1].range == "bytes=\(modelSize / 2)-" && transfers[1].status == 200 && transfers[1].bytes == modelSize)
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == Data(contentsOf: Paths.tinyFlan.appendingPathComponent("model.safetensors")))
    }

    /// The kernel's ENOSPC, from /dev/full standing in for the partial file of a full disk.
    @Test func fullDiskIsReportedAndNothingIsPlaced() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        try FileManager.default.createDirectory(at: PullLayout.incompleteDir(dir), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: PullLayout.incompleteDir(dir).appendingPathComponent("\(FileDigestNames.modelSHA).incomplete").path,
                                                   withDestinationPath: "/dev/full")
        let error = hubError { _ = try pull(hub, into: dir) }
        #expect(error?.kind == .diskFull && error?.exitCode == 7)
        #expect(error?.message.contains("the disk is full writing model.safetensors") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path))
    }

    @Test(arguments: [("model.safetensors", "sha256"), ("config.json", "git blob sha1")])
    func corruptedFileIsRefusedAndNeverPlaced(_ file: String, _ check: String) throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        try hub.control(["corrupt": [file: 700]])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")
        let error = hubError { _ = try pull(hub, into: dir) }
        #expect(error?.kind == .integrity)
        #expect(error?.message.contains("\(file) failed its \(check) check") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path))
        #expect(leftovers(dir).isEmpty)
        #expect(PullManifest.read(dir)?.files[file] == nil)

        // Once the mirror serves the right bytes, the same command completes.
        try hub.control(["clear": true])
        _ = try pull(hub, into: dir)
        #expect(try Data(contentsOf: dir.appendingPathComponent(file)) == Data(contentsOf: FakeRepo.tinyModel.files[file]!.0))
    }

    @Test func authorisationAndNotFoundMessages() throws {
        var privateRepo = FakeRepo.adapter(Paths.tinyAdapters.appendingPathComponent("lora-qv"))
        privateRepo.isPrivate = true
        var gated = privateRepo
        gated.isPrivate = false
        gated.gated = true
        let hub = try FakeHub(["tiny/flan": .tinyModel, "tiny/private": privateRepo, "tiny/gated": gated])
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("x")

        let noToken = hubError { _ = try pull(hub, into: dir, repo: "tiny/private", kind: .adapter, settings: hub.settings(token: nil)) }
        #expect(noToken?.kind == .unauthorized && noToken?.exitCode == 4)
        #expect(noToken?.message.contains("tiny/private needs authentication (401)") == true)
        #expect(noToken?.message.contains("Set HF_TOKEN") == true)
        let badToken = hubError { _ = try pull(hub, into: dir, repo: "tiny/private", kind: .adapter, settings: hub.settings(token: "wrong")) }
        #expect(badToken?.kind == .unauthorized)
        #expect(badToken?.message.contains("refused the token in HF_TOKEN") == true)
        // With the token the private repository comes down.
        _ = try pull(hub, into: dir, repo: "tiny/private", kind: .adapter)

        let gatedError = hubError { _ = try pull(hub, into: dir, repo: "tiny/gated", kind: .adapter) }
        #expect(gatedError?.kind == .unauthorized && gatedError?.message.contains("403") == true)
        #expect(gatedError?.message.contains("accept its conditions") == true)

        let noRepo = hubError { _ = try pull(hub, into: dir, repo: "tiny/nothing") }
        #expect(noRepo?.kind == .notFound && noRepo?.exitCode == 5)
        #expect(noRepo?.message.contains("no repository tiny/nothing") == true)
        let noRevision = hubError { _ = try pull(hub, into: dir, revision: "v9") }
        #expect(noRevision?.kind == .notFound && noRevision?.message.contains("has no revision \"v9\"") == true)

        try hub.control(["status": ["model.safetensors": 500]])
        let serverError = hubError { _ = try pull(hub, into: scratch.file("y")) }
        #expect(serverError?.kind == .server && serverError?.message.contains("500") == true)
        #expect(!FileManager.default.fileExists(atPath: scratch.file("y/model.safetensors").path))

        let notAdapter = hubError { _ = try pull(hub, into: scratch.file("z"), kind: .adapter) }
        #expect(notAdapter?.kind == .invalid && notAdapter?.message.contains("no adapter_config.json") == true)
    }

    @Test func offlineMakesNoRequestAndNeedsCompleteFiles() throws {
        let hub = try FakeHub(["tiny/flan": .tinyModel])
        var env = ["HF_ENDPOINT": hub.endpoint + "/", "HF_HUB_OFFLINE": "1"]
        let offline = try HubSettings(environment: env)
        #expect(offline.offline && offline.endpoint == hub.endpoint && offline.token == nil)
        let scratch = try TemporaryDirectory()
        let dir = scratch.file("model")

        let empty = hubError { _ = try pull(hub, into: dir, settings: offline) }
        #expect(empty?.kind == .offline && empty?.exitCode == 8)
        #expect(empty?.message.contains("HF_HUB_OFFLINE is set, so nothing is downloaded") == true)
        #expect(empty?.message.contains("config.json") == true)
        #expect(try hub.log().isEmpty)

        _ = try pull(hub, into: dir)
        let requests = try hub.log().count
        let done = try pull(hub, into: dir, settings: offline)
        #expect(done.offline && done.downloaded.isEmpty && done.commit == FakeRepo.tinyModel.commit)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer.json"))
        let incomplete = hubError { _ = try pull(hub, into: dir, settings: offline) }
        #expect(incomplete?.kind == .offline && incomplete?.message.contains("missing or incomplete: tokenizer.json") == true)
        #expect(try hub.log().count == requests)

        env["HF_HUB_OFFLINE"] = "0"
        #expect(try HubSettings(environment: env).offline == false)
        #expect(throws: HubError.self) { try HubSettings(environment: ["HF_ENDPOINT": "ftp://example"]) }
    }

    @Test func unreachableHubIsReportedAsSuch() throws {
        // A loopback port nobody listens on (discard): connection refused at once.
        var settings = HubSettings(endpoint: "http://127.0.0.1:9", token: nil, offline: false)
        settings.connectTimeoutSeconds = 2
        let scratch = try TemporaryDirectory()
        let error = hubError { _ = try Puller(settings: settings, progress: CapturedOutput().reporter).pull(repo: "google/flan-t5-base", kind: .model, into: scratch.file("m")) }
        #expect(error?.kind == .unreachable && error?.exitCode == 3)
        #expect(error?.message.contains("cannot reach http://127.0.0.1:9") == true)
        #expect(error?.message.contains("HF_HUB_OFFLINE=1") == true)
    }

    @Test func repositoryIdsAreChecked() {
        for bad in ["", "a/b/c", "../x", "a//b", "a b", "owner/..", "x--y"] {
            #expect(throws: HubError.self, "\(bad)") { try HubClient.validateRepo(bad) }
        }
        for good in ["google/flan-t5-base", "gpt2", "a.b/c_d-1"] { #expect(throws: Never.self) { try HubClient.validateRepo(good) } }
        #expect(HubClient.escape("refs/pr/1", keepSlash: false) == "refs%2Fpr%2F1")
    }
}

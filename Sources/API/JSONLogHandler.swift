import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line, for log collectors (`--log-format
/// json`). Keys: `ts` (ISO 8601, UTC, milliseconds), `level`, `label`, `message`, then the
/// metadata (the provider's, the logger's, the call's; later ones win) as top-level keys.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: JSONLineSink

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, sink: JSONLineSink = .standardError) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadataProvider?.get() ?? [:]
        merged.merge(metadata) { $1 }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        var object: [String: Any] = merged.mapValues(Self.json)
        object["ts"] = Self.timestamp(Date())
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = event.message.description
        if let error = event.error { object["error"] = "\(error)" }
        sink.write(object)
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Where JSON lines go: one `write` per line, so lines from concurrent requests never interleave.
public final class JSONLineSink: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle

    public init(handle: FileHandle) { self.handle = handle }
    public static let standardError = JSONLineSink(handle: .standardError)

    func write(_ object: [String: Any]) {
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"message":"unencodable log line"}"#.utf8)
        data.append(0x0A)
        lock.lock(); defer { lock.unlock() }
        handle.write(data)
    }
}

/// `--log-format`: `text` (swift-log's stream format), `json` (one object per line), or `auto`
/// (text when stderr is a terminal, JSON otherwise, e.g. under a supervisor or in a container).
public enum LogFormat: String, Sendable, CaseIterable {
    case auto, text, json

    public var resolved: LogFormat {
        guard self == .auto else { return self }
        return isatty(STDERR_FILENO) == 1 ? .text : .json
    }

    /// Installs the process-wide log handler; request ids ride on every line either way.
    public func bootstrap(level: Logger.Level) {
        let format = resolved
        LoggingSystem.bootstrap({ label, provider in
            var handler: any LogHandler = format == .json
                ? JSONLogHandler(label: label, metadataProvider: provider)
                : StreamLogHandler.standardError(label: label, metadataProvider: provider)
            handler.logLevel = level
            return handler
        }, metadataProvider: RequestID.metadataProvider)
    }
}

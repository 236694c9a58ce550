/// Limits that protect the process from clients; every field has a production-safe default.
public struct HTTPServerConfiguration: Sendable {
    /// IPv4 dotted quad, IPv6 literal ("::1"), or a name such as "localhost" (IPv4 preferred).
    public var host: String
    /// 0 asks the kernel for a free port; read it back from `HTTPServer.boundPort`.
    public var port: Int
    /// Largest accepted request body; larger ones get 413 without being buffered.
    public var maxBodyBytes: Int
    /// Simultaneous connections (each holds a thread); excess connections are closed at once.
    public var connectionLimit: Int
    /// Idle seconds before a connection is dropped; this is what ends slowloris clients.
    public var connectionTimeoutSeconds: Int
    /// libmicrohttpd's per-connection memory (MHD_OPTION_CONNECTION_MEMORY_LIMIT), which must
    /// hold the request line and all headers; requests whose head does not fit get 431 (or
    /// 414 for a long URL) from libmicrohttpd itself, as HTML rather than the JSON error shape.
    public var maxHeaderBytes: Int
    /// Receives libmicrohttpd's diagnostics (connection errors, limits hit). Called on its threads.
    public var log: (@Sendable (String) -> Void)?

    public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 64 << 20,
                connectionLimit: Int = 64, connectionTimeoutSeconds: Int = 30, maxHeaderBytes: Int = 32 << 10,
                log: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.connectionLimit = connectionLimit
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.maxHeaderBytes = maxHeaderBytes
        self.log = log
    }
}

/// Limits that protect the process from clients; every field has a production-safe default.
public struct HTTPServerConfiguration: Sendable {
    /// IPv4 dotted quad, IPv6 literal ("::1"), or a name such as "localhost" (IPv4 preferred).
    public var host: String
    /// 0 asks the kernel for a free port; read it back from `HTTPServer.boundPort`.
    public var port: Int
    /// Largest accepted request body; larger ones get 413 without being buffered.
    public var maxBodyBytes: Int
    /// Simultaneous connections, all served by one event thread (idle ones cost a descriptor and
    /// a little memory, no thread); excess connections are closed at once. The process's
    /// open-file limit is raised to fit.
    public var connectionLimit: Int
    /// Simultaneous connections from one client address; 0 = no limit (the right setting behind
    /// a load balancer, where every client shares its address).
    public var perIPConnectionLimit: Int
    /// Idle seconds before a connection is dropped (libmicrohttpd's inactivity timeout).
    public var connectionTimeoutSeconds: Int
    /// Seconds a client has to send a whole header block, counted from the connection's accept
    /// (or the first byte of a next keep-alive request); a client trickling header lines is cut
    /// off here even though it is never idle. 0 = no deadline.
    public var headerTimeoutSeconds: Double
    /// libmicrohttpd's per-connection memory (MHD_OPTION_CONNECTION_MEMORY_LIMIT), which must
    /// hold the request line and all headers; requests whose head does not fit get 431 (or
    /// 414 for a long URL) from libmicrohttpd itself, as HTML rather than the JSON error shape.
    public var maxHeaderBytes: Int
    /// Receives libmicrohttpd's diagnostics (connection errors, limits hit). Called on its threads.
    public var log: (@Sendable (String) -> Void)?

    public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 64 << 20,
                connectionLimit: Int = 4096, connectionTimeoutSeconds: Int = 30, maxHeaderBytes: Int = 32 << 10,
                perIPConnectionLimit: Int = 0, headerTimeoutSeconds: Double = 10,
                log: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.maxHeaderBytes = maxHeaderBytes
        self.log = log
    }
}

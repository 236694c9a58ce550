import Foundation
import HTTPTesting
import HTTPCore
import Testing

/// Lets a test hold handlers inside the server until it says so, without sleeping.
final class Gate: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    private let condition = NSCondition()
    private var arrived = 0
    private var open = false

    /// Called by handlers: records arrival, then waits (bounded) for `release()`.
    func enter(timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !open {
            if !condition.wait(until: deadline) { return open }
        }
        return true
    }

    /// Called by handlers: waits (bounded) until `count` handlers are inside at once.
    func meet(_ count: Int, timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived < count {
            if !condition.wait(until: deadline) { return arrived >= count }
        }
        return true
    }

    /// Called by the test: waits (bounded) until `count` handlers have arrived.
    func waitForArrivals(_ count: Int, timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived < count {
            if !condition.wait(until: deadline) { return arrived >= count }
        }
        return true
    }

    func release() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }
}

extension LiveServerTests {
    @Suite("HTTPServer concurrency and lifecycle")
    struct Lifecycle {
        @Test("32 parallel clients are all inside the handler at the same time and all answered")
        func parallelClients() throws {
            let clients = 32
            let gate = Gate()
            let handler: @Sendable (HTTPRequest) -> HTTPResponse = { request in
                // Each handler blocks until all 32 are in: only true per-connection concurrency passes.
                gate.meet(clients) ? .text("ok " + (request.query("i") ?? "?")) : .text(status: 503, "barrier timed out")
            }
            try withServer(handler: handler) { _, base in
                var arguments = ["-sS", "--max-time", "60", "--parallel", "--parallel-immediate", "--parallel-max", "\(clients)",
                                 "-w", "%{http_code}\n"]
                for index in 0..<clients {
                    arguments += ["-o", "/dev/null", "\(base)/barrier?i=\(index)"]
                }
                let result = try runProcess("/usr/bin/curl", arguments)
                let statuses = result.stdoutText.split(separator: "\n")
                #expect(statuses.count == clients)
                #expect(statuses.allSatisfy { $0 == "200" }, "\(statuses)")
            }
        }

        @Test("stopAccepting refuses new connections; draining waits for the in-flight handler")
        func gracefulDrain() throws {
            let gate = Gate()
            let token = UUID().uuidString
            let handler: @Sendable (HTTPRequest) -> HTTPResponse = { request in
                request.path == "/slow" ? (gate.enter() ? .text("slow done") : .text(status: 503, "gate timed out"))
                    : .text(token)
            }
            let server = HTTPServer(configuration: testConfiguration())
            try server.start(handler: handler)
            defer { server.stop() }
            let port = server.boundPort

            let slow = try RawConnection(port: port)
            try slow.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(gate.waitForArrivals(1))
            #expect(server.inFlightCount == 1)

            server.stopAccepting()
            server.stopAccepting()  // idempotent
            #expect(!reaches(port: port, token: token))
            // The handler is parked at the gate, so draining cannot finish yet.
            #expect(!server.waitForInFlight(timeout: .milliseconds(100)))

            gate.release()
            #expect(server.waitForInFlight(timeout: .seconds(30)))
            #expect(server.inFlightCount == 0)

            // The response still arrives, and tells the keep-alive client to go away.
            let (bytes, ending) = slow.readUntilClosed()
            let response = try #require(parseFirstResponse(bytes))
            #expect(response.status == 200)
            #expect(response.text == "slow done")
            #expect(response.headers["connection"]?.lowercased() == "close")
            #expect(ending == .closed)

            server.stop()
            server.stop()  // idempotent
            #expect(server.boundPort == port)
            #expect(!reaches(port: port, token: token))
        }

        @Test("A handler that runs longer than the idle timeout still delivers its response")
        func slowHandlerOutlivesIdleTimeout() throws {
            // Inference can take longer than connectionTimeoutSeconds; that timeout is for idle
            // clients, not for busy handlers.
            let handler: @Sendable (HTTPRequest) -> HTTPResponse = { _ in
                Thread.sleep(forTimeInterval: 2.5)
                return .text("finally")
            }
            try withServer(testConfiguration(timeout: 1), handler: handler) { _, base in
                let response = try curl([base + "/think"])
                #expect(response.status == 200)
                #expect(response.text == "finally")
            }
        }

        @Test("A keep-alive connection serves several requests before stopAccepting")
        func keepAlive() throws {
            try withServer { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("GET /only-get HTTP/1.1\r\nHost: t\r\n\r\nGET /only-get HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                let text = String(decoding: connection.readUntilClosed().bytes, as: UTF8.self)
                #expect(text.components(separatedBy: "got it").count == 3)
            }
        }

        @Test("Port 0 binds a free port; a port in use and an unknown host fail to start")
        func startFailures() throws {
            try withServer { server, _ in
                #expect(server.boundPort > 0)
                let clash = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: server.boundPort))
                let error = #expect(throws: HTTPServerError.self) { try clash.start(handler: echoRoutes) }
                #expect(error?.kind == .startFailed)
                #expect(throws: HTTPServerError.self) { try server.start(handler: echoRoutes) }  // started once only
            }
            let badHost = HTTPServer(configuration: HTTPServerConfiguration(host: "no-such-host.invalid", port: 0))
            #expect(throws: HTTPServerError.self) { try badHost.start(handler: echoRoutes) }
            let badPort = HTTPServer(configuration: HTTPServerConfiguration(port: 70000))
            let error = #expect(throws: HTTPServerError.self) { try badPort.start(handler: echoRoutes) }
            #expect(error?.kind == .invalidConfiguration)
        }

        @Test("\"localhost\" binds IPv4 loopback")
        func localhost() throws {
            var configuration = testConfiguration()
            configuration.host = "localhost"
            try withServer(configuration) { server, _ in
                let response = try curl(["http://127.0.0.1:\(server.boundPort)/echo"])
                #expect(try response.decode(EchoReply.self).remoteAddress == "127.0.0.1")
            }
        }

        /// Whether ::1 exists is the machine's network, not a fixture, so the test does not skip
        /// without it: there, binding ::1 must fail with a start error that names the address.
        @Test("An IPv6 host binds and reports IPv6 peers (or, without IPv6 loopback, fails to start clearly)")
        func ipv6() throws {
            var configuration = testConfiguration()
            configuration.host = "::1"
            guard hasIPv6Loopback() else {
                let server = HTTPServer(configuration: configuration)
                let error = #expect(throws: HTTPServerError.self) { try server.start(handler: echoRoutes) }
                #expect(error?.kind == .startFailed && error?.message.contains("::1") == true, "\(String(describing: error))")
                return
            }
            let token = UUID().uuidString
            try withServer(configuration, handler: { $0.path == "/whoami" ? .text(token) : echoRoutes($0) }) { server, _ in
                let response = try curl(["http://[::1]:\(server.boundPort)/echo"])
                #expect(try response.decode(EchoReply.self).remoteAddress == "::1")
                #expect(reaches(port: server.boundPort, ipv6: true, token: token))
                #expect(!reaches(port: server.boundPort, token: token))  // not on IPv4
            }
        }

        @Test("Diagnostics from libmicrohttpd reach the configured log")
        func logging() throws {
            let lines = LogLines()
            var configuration = testConfiguration()
            configuration.perIPConnectionLimit = 1
            configuration.log = { lines.append($0) }
            let gate = Gate()
            try withServer(configuration, handler: { _ in gate.enter() ? .text("ok") : .text(status: 503, "") }) { server, _ in
                let first = try RawConnection(port: server.boundPort)
                try first.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                #expect(gate.waitForArrivals(1))
                // Over the per-address limit: libmicrohttpd closes it at once and says why.
                let second = try RawConnection(port: server.boundPort)
                #expect(second.readUntilClosed().ending == .closed)
                gate.release()
                #expect(parseFirstResponse(first.readUntilClosed().bytes)?.status == 200)
            }
            #expect(lines.all.contains { $0.localizedCaseInsensitiveContains("limit") }, "\(lines.all)")
        }
    }
}

final class LogLines: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}

/// Whether a new connection to `port` is served by the server whose /whoami answers `token`.
/// Merely failing to connect is not the question: tests run in parallel, and another test's
/// server may legitimately be given a port this one has just released.
func reaches(port: Int, ipv6: Bool = false, token: String) -> Bool {
    guard let connection = try? RawConnection(port: port, ipv6: ipv6) else { return false }
    guard (try? connection.send("GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")) != nil else {
        return false
    }
    return parseFirstResponse(connection.readUntilClosed().bytes)?.text == token
}

func hasIPv6Loopback() -> Bool {
    let table = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
    return table.contains("00000000000000000000000000000001")
}

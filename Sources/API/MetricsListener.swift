import Foundation
import HTTPCore
import Serving

/// `--metrics-port`: /metrics on a second listener, so a network policy can let Prometheus
/// reach the metrics without reaching the API (the main port then answers 404 there). It
/// serves nothing else and records no request metrics of its own.
extension APIServer {
    /// The metrics listener's port once started (useful with `metrics_port: 0`); nil without one.
    public var metricsBoundPort: Int? { metricsListener?.boundPort }

    static func makeMetricsListener(_ s: ServiceSettings) -> HTTPServer? {
        s.access.metricsPort.map {
            HTTPServer(configuration: HTTPServerConfiguration(host: s.host, port: $0, maxBodyBytes: 4096, connectionLimit: 8))
        }
    }

    func startMetricsListener() throws {
        try metricsListener?.start { [self] request in
            guard request.pathSegments == ["metrics"] else {
                return .error(status: 404, code: "not_found", message: "only GET /metrics is served on the metrics port")
            }
            guard request.method == "GET" else {
                return .error(status: 405, code: "method_not_allowed", message: "\(request.method) is not allowed on /metrics",
                              headers: ["Allow": "GET"])
            }
            return .text(metrics.render(service: service, http: http), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}

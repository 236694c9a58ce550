import Testing

/// Every test that starts a server runs inside this suite, one at a time. Servers bind port
/// 0, and a port one test releases (stopAccepting, stop) can be handed straight to another
/// test's server; run in parallel, a "is this port still served?" probe could then land on,
/// and disturb, an unrelated test.
@Suite("Live HTTP server", .serialized)
enum LiveServerTests {}

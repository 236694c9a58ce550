/// The id of the request being handled: bound by the HTTP layer for the request's duration and
/// carried onto the engine thread for the state changes the request runs there (adapter upload,
/// delete, activate), so that every log line of the request can name it.
public enum RequestContext {
    @TaskLocal public static var requestID: String?
}

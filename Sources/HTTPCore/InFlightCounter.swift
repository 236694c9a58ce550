import Foundation

/// Counts requests between "headers received" and "response finished or aborted" so a
/// graceful shutdown can wait for them without polling.
final class InFlightCounter: @unchecked Sendable {
    // @unchecked: `count` is only touched while `condition` is locked.
    private let condition = NSCondition()
    private var count = 0

    var current: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    func increment() {
        condition.lock()
        count += 1
        condition.unlock()
    }

    func decrement() {
        condition.lock()
        count -= 1
        if count == 0 {
            condition.broadcast()
        }
        condition.unlock()
    }

    /// True once the count is zero; false if `deadline` passed first.
    func waitForZero(until deadline: Date?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count > 0 {
            if let deadline {
                if !condition.wait(until: deadline) && count > 0 {
                    return false
                }
            } else {
                condition.wait()
            }
        }
        return true
    }
}

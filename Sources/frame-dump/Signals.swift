#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process inherits its signal mask and ignored signals from whoever started it. Started from a
/// thread that blocks SIGTERM (test runners, some supervisors), the proxy could not be stopped, so it
/// restores the default handling of the signals that are meant to end it.
enum Signals {
    static func restoreTerminationDefaults() {
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&set, number)
            _ = signal(number, SIG_DFL)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

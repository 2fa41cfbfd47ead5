import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for `mailslot browse` against nmbd peers.
extension Lab {
    /// Starts nmbd on a host from the harness template with some [global] settings replaced or added
    /// (e.g. `server string`, `announce version`, `preferred master`), a private directory tree and its log
    /// on standard output.
    func startNmbdPeer(_ host: Host, settings: [(key: String, value: String)]) throws -> Child {
        guard let nmbd = Prerequisites.tool("nmbd") else { throw HarnessError("nmbd is not installed") }
        let dir = "\(directory)/nmbd-\(host.label)"
        for sub in ["lock", "state", "cache", "private", "pid", "ncalrpc", "log"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        var lines = try Fixtures.text("nmbd-smb.conf.template")
            .replacingOccurrences(of: "@NAME@", with: host.computerName)
            .replacingOccurrences(of: "@WORKGROUP@", with: host.workgroup)
            .replacingOccurrences(of: "@ADDRESS@", with: host.address)
            .replacingOccurrences(of: "@PREFIX@", with: "\(host.prefix)")
            .replacingOccurrences(of: "@DIR@", with: dir)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (key, value) in settings {
            let line = "  \(key) = \(value)"
            if let index = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + " =") }) {
                lines[index] = line
            } else if let global = lines.firstIndex(of: "[global]") {
                lines.insert(line, at: global + 1)
            } else {
                throw HarnessError("the nmbd template has no [global] section")
            }
        }
        try lines.joined(separator: "\n").write(toFile: "\(dir)/smb.conf", atomically: true, encoding: .utf8)
        return try start(host, [nmbd, "-F", "--no-process-group", "--debug-stdout", "-d", "10", "-s", "\(dir)/smb.conf"],
                         label: "nmbd", environment: Spawn.environment(), mergeOutput: true)
    }

    /// Starts `mailslot browse ARGUMENTS` on a host. With `--source udp` it waits (bounded) until UDP port 138
    /// is bound in the host's namespace; with `--source mailslot` until `mailslot list` shows
    /// `\\.\mailslot\browse`.
    func startBrowse(_ host: Host, _ arguments: [String]) async throws -> Child {
        let tool = try Products.mailslot()
        let child = try start(host, [tool, "browse"] + arguments, label: "browse-\(Listener.counter.next())")
        let ready = try await Wait.until(timeout: 10, interval: .milliseconds(50)) {
            if !child.isRunning { return true }
            if arguments.contains("udp") {
                let r = try await exec(host, ["ss", "-Hlun", "sport = :138"], timeout: 10)
                return r.status == 0 && !r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
            let r = try await exec(host, [tool, "list", "--json"], timeout: 10)
            return BrowseOutput.objects(r.stdout).contains { ($0["name"] as? String)?.lowercased() == #"\\.\mailslot\browse"# }
        }
        guard ready, child.isRunning else {
            throw HarnessError("mailslot browse \(arguments.joined(separator: " ")) on \(host) did not come up within 10 s\n\(child.tail())")
        }
        return child
    }
}

/// The JSON objects `mailslot browse --json` prints, one per line.
enum BrowseOutput {
    static func objects(_ child: Child) -> [[String: Any]] {
        objects(child.stdout)
    }

    static func objects(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Waits (bounded) for an event line satisfying `match`.
    static func waitFor(_ child: Child, timeout: TimeInterval, _ match: ([String: Any]) -> Bool) async -> [String: Any]? {
        var found: [String: Any]?
        _ = await Wait.until(timeout: timeout, interval: .milliseconds(50)) {
            found = objects(child).first(where: match)
            return found != nil || !child.isRunning
        }
        return found ?? objects(child).first(where: match)
    }

    /// An event `name` about the host `host` (host_added, host_updated, host_expired, host_left).
    static func isHostEvent(_ object: [String: Any], _ name: String, _ host: String) -> Bool {
        object["event"] as? String == name && (object["host"] as? [String: Any])?["name"] as? String == host
    }

    /// The latest state of a host that the events describe.
    static func latestHost(_ child: Child, _ host: String) -> [String: Any]? {
        objects(child).last { isHostEvent($0, "host_added", host) || isHostEvent($0, "host_updated", host) }?["host"] as? [String: Any]
    }

    /// The event lines, for failure messages.
    static func summary(_ child: Child) -> String {
        objects(child).map { object in
            let name = (object["host"] as? [String: Any])?["name"] ?? (object["workgroup"] as? [String: Any])?["name"] ?? object["workgroup"] ?? ""
            return "\(object["event"] ?? "?") \(name)"
        }.joined(separator: ", ")
    }
}

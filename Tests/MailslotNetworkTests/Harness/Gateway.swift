import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `mailslotd stats` output.
struct GatewayStats: Equatable, CustomStringConvertible {
    var received: Int
    var delivered: Int
    var dropped: [String: Int]
    func dropped(_ reason: String) -> Int { dropped[reason] ?? 0 }
    var description: String { "received \(received), delivered \(delivered), dropped \(dropped)" }
}

/// One line of `mailslot listen --json`.
struct ReceivedMessage: Equatable, CustomStringConvertible {
    var data: [UInt8]
    var size: Int
    var text: String?
    var description: String { text.map { "\"\($0.prefix(60))\"(\(size))" } ?? "<\(size) bytes>" }
}

extension Lab {
    /// Starts `mailslotd` on a host as that host's computer and workgroup, and waits (bounded) for its
    /// `mailslotd listening` line.
    func startGateway(_ host: Host, port: UInt16 = 138, extra: [String] = []) async throws -> Child {
        let daemon = try Products.mailslotd()
        let child = try start(host, [daemon, "--port", "\(port)", "--computer-name", host.computerName, "--workgroup", host.workgroup,
                                     "--log-level", "debug"] + extra, label: "mailslotd")
        let ready = await Wait.line(in: child.stderrPath, timeout: 15, stopIf: child) { $0.contains("mailslotd listening") }
        guard ready != nil else {
            throw HarnessError("mailslotd on \(host) did not log 'mailslotd listening' within 15 s (running: \(child.isRunning))\n\(child.tail())")
        }
        return child
    }

    /// Starts `mailslot listen NAME --json` on a host and waits (bounded) until `mailslot list` in that
    /// namespace shows the mailslot. (Local mailslots are abstract Unix sockets, which belong to the network
    /// namespace: each host has its own `\\.\mailslot\t`.)
    func startListener(_ host: Host, _ name: String) async throws -> Child {
        let tool = try Products.mailslot()
        let tag = name.split(separator: "\\").last.map(String.init) ?? "slot"
        let child = try start(host, [tool, "listen", name, "--json", "--allow-network"], label: "listen-\(tag)-\(Listener.counter.next())")
        let shown = try await Wait.until(timeout: 10, interval: .milliseconds(50)) {
            if !child.isRunning { return true }
            let r = try await exec(host, [tool, "list", "--json"], timeout: 10)
            return r.stdout.split(separator: "\n").contains { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let listed = object["name"] as? String else { return false }
                return listed.lowercased() == name.lowercased()
            }
        }
        guard shown, child.isRunning else {
            throw HarnessError("mailslot listen \(name) on \(host) did not come up within 10 s\n\(child.tail())")
        }
        return child
    }

    /// The counters of the host's mailslotd.
    func stats(_ host: Host, port: UInt16 = 138) async throws -> GatewayStats {
        let r = try await exec(host, [try Products.mailslotd(), "stats", "--port", "\(port)"], timeout: 10)
        guard r.status == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let received = object["received"] as? Int, let delivered = object["delivered"] as? Int else {
            throw HarnessError("mailslotd stats on \(host) failed or printed something unexpected: \(r)")
        }
        let dropped = (object["dropped"] as? [String: Any] ?? [:]).compactMapValues { $0 as? Int }
        return GatewayStats(received: received, delivered: delivered, dropped: dropped)
    }

    /// Waits (bounded) until the host's mailslotd has counted at least `received` datagrams; returns the
    /// last counters read.
    func waitForStats(_ host: Host, port: UInt16 = 138, received: Int, timeout: TimeInterval = 10) async throws -> GatewayStats {
        var last = try await stats(host, port: port)
        _ = try await Wait.until(timeout: timeout, interval: .milliseconds(50)) {
            last = try await stats(host, port: port)
            return last.received >= received
        }
        return last
    }

    /// `mailslot send` on a host (its computer name and workgroup come from the environment).
    func send(_ host: Host, _ name: String, _ messages: [String], extraArguments: [String] = [],
              environment: [String: String] = [:]) async throws -> RunResult {
        try await exec(host, [try Products.mailslot(), "send", name] + messages + extraArguments,
                       environment: self.environment(host, environment), timeout: 30)
    }
}

enum Listener {
    static let counter = Counter()

    /// Every message a `mailslot listen --json` has printed so far.
    static func messages(_ listener: Child) -> [ReceivedMessage] {
        listener.stdout.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let base64 = object["data"] as? String, let data = Data(base64Encoded: base64),
                  let size = object["size"] as? Int else { return nil }
            return ReceivedMessage(data: [UInt8](data), size: size, text: object["text"] as? String)
        }
    }

    /// Waits (bounded) until the listener has printed a message satisfying `match`.
    static func waitFor(_ listener: Child, timeout: TimeInterval = 10,
                        _ match: (ReceivedMessage) -> Bool) async -> ReceivedMessage? {
        var found: ReceivedMessage?
        _ = await Wait.until(timeout: timeout) {
            found = messages(listener).first(where: match)
            return found != nil || !listener.isRunning
        }
        return found ?? messages(listener).first(where: match)
    }

    static func texts(_ listener: Child) -> [String] { messages(listener).map { $0.text ?? "<binary \($0.size)>" } }
}

/// A tcpdump capture running inside a host's namespace.
final class Capture: @unchecked Sendable {
    let child: Child
    let path: String
    init(child: Child, path: String) {
        self.child = child
        self.path = path
    }

    /// Stops tcpdump (SIGINT: it flushes the file) and returns the UDP packets captured.
    func stop() throws -> [UDPPacket] {
        let status = child.stop(signal: SIGINT, grace: 5)
        guard status == 0 else { throw HarnessError("tcpdump exited with status \(status)\n\(child.tail())") }
        return try Pcap.udpPackets(atPath: path)
    }

    /// The UDP packets written so far (tcpdump -U writes each packet as it arrives).
    func packetsSoFar() -> [UDPPacket] { (try? Pcap.udpPackets(atPath: path)) ?? [] }
}

extension Lab {
    /// Starts tcpdump on the host's interface, writing a pcap file, and waits (bounded) until it listens.
    func startCapture(_ host: Host, filter: String, name: String) async throws -> Capture {
        guard let tcpdump = Prerequisites.tool("tcpdump") else { throw HarnessError("tcpdump is not installed") }
        let path = "\(directory)/\(host.label)-\(name).pcap"
        // -Z root: tcpdump would otherwise drop to its own user and could not write here;
        // --immediate-mode and -U: every packet reaches the file at once.
        let child = try start(host, [tcpdump, "-i", host.interface, "-n", "-p", "-U", "--immediate-mode", "-Z", "root",
                                     "-w", path, filter], label: "tcpdump-\(name)")
        let ready = await Wait.line(in: child.stderrPath, timeout: 10, stopIf: child) { $0.contains("listening on") }
        guard ready != nil else { throw HarnessError("tcpdump on \(host) did not start listening within 10 s\n\(child.tail())") }
        return Capture(child: child, path: path)
    }
}

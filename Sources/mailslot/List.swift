import ArgumentParser
import Foundation
import Mailslot

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the mailslots that exist on this machine now.",
        discussion: "Shows each mailslot's name, the pids of the processes that hold its server handle, its owner, who may write, and its maximum message size."
    )

    @Flag(help: "Print one JSON object per mailslot.")
    var json = false

    @Option(help: "Milliseconds to wait, in all, for the servers to answer; one that has not answered by then is left out.")
    var timeout: UInt32 = 300

    func run() {
        let entries = MailslotDirectory.list(timeout: .milliseconds(Int(timeout)))
        if json {
            for e in entries {
                let object: [String: Any] = ["name": e.name.description, "pids": e.holderPIDs, "owner_uid": e.ownerUID,
                                             "access": e.access.description, "network": e.allowsNetwork, "max_message_size": e.maxMessageSize, "quota": e.quota]
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
                emit(String(decoding: data, as: UTF8.self))
            }
            return
        }
        if entries.isEmpty {
            emit("no mailslots on this machine")
            return
        }
        var rows = [["NAME", "PID", "OWNER", "WRITERS", "MAX MESSAGE"]]
        for e in entries {
            rows.append([e.name.description, e.holderPIDs.map(String.init).joined(separator: ","), "\(e.ownerUID)",
                         e.access.description + (e.allowsNetwork ? "+network" : ""), e.maxMessageSize == 0 ? "any" : "\(e.maxMessageSize)"])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            emit(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
    }
}

import Foundation

/// tshark, the independent dissector.
enum TsharkTool {
    /// Runs `tshark -r PCAP ... -T fields -e F...` and returns one row of fields per matching frame.
    /// `port`: decode that UDP port as NetBIOS datagrams (tshark only knows 138 by itself).
    static func fields(pcap: String, fields: [String], port: UInt16? = nil, displayFilter: String? = nil,
                       disableBrowser: Bool = true, directory: String) async throws -> [[String]] {
        guard let tshark = Prerequisites.tool("tshark") else { throw HarnessError("tshark is not installed") }
        var argv = [tshark, "-r", pcap, "-n"]
        if let port { argv += ["-d", "udp.port==\(port),nbdgm"] }
        if disableBrowser { argv += ["--disable-protocol", "browser"] } // keep mailslot data in data.data
        if let displayFilter { argv += ["-Y", displayFilter] }
        argv += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
        for field in fields { argv += ["-e", field] }
        let r = try await Run.command(argv, directory: directory, timeout: 60)
        guard r.status == 0 else { throw HarnessError("tshark failed: \(r)") }
        return r.stdout.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// Writes the datagrams as UDP 138 → 138 packets (10.0.0.1 → 10.0.0.2) into one pcap with text2pcap,
    /// one frame per datagram, in order.
    static func text2pcap(_ datagrams: [[UInt8]], output: String, directory: String) async throws {
        guard let text2pcap = Prerequisites.tool("text2pcap") else { throw HarnessError("text2pcap is not installed") }
        var dump = ""
        for datagram in datagrams {
            for lineStart in stride(from: 0, to: datagram.count, by: 16) {
                let line = datagram[lineStart..<min(lineStart + 16, datagram.count)].map { String(format: "%02x", $0) }
                dump += String(format: "%06x ", lineStart) + line.joined(separator: " ") + "\n"
            }
        }
        let input = output + ".txt"
        try dump.write(toFile: input, atomically: true, encoding: .utf8)
        let r = try await Run.command([text2pcap, "-q", "-F", "pcap", "-u", "138,138", "-4", "10.0.0.1,10.0.0.2", input, output],
                                      directory: directory, timeout: 30)
        guard r.status == 0 else { throw HarnessError("text2pcap failed: \(r)") }
    }
}

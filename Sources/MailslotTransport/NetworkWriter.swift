import Logging
import MailslotCore
import Synchronization

/// A writer to a mailslot on other machines, over the Remote Mailslot Protocol: each message is one
/// NetBIOS datagram (UDP, port 138 by default) carrying an SMB_COM_TRANSACTION mailslot write.
///
/// - `\\COMPUTER\mailslot\x`: a DIRECT_UNIQUE datagram to `COMPUTER<00>` at the computer's address,
///   found as an IPv4 literal, through /etc/hosts and DNS, or else by a NetBIOS name query broadcast
///   (UDP 137), which Windows and Samba's nmbd answer. A name that answers as a group is written to as a
///   domain.
/// - `\\DOMAIN\mailslot\x`, `\\*\mailslot\x`: a DIRECT_GROUP datagram to `DOMAIN<00>` at the broadcast
///   address of every selected interface.
///
/// There is no handshake and no acknowledgement: opening always succeeds and a message nobody serves is
/// lost without an error, as on Windows.
package final class NetworkWriter: @unchecked Sendable {
    package let name: MailslotName
    package let destination: MailslotName.Destination
    package let configuration: MailslotConfiguration
    /// The most data one datagram may carry for this mailslot name.
    package let dataLimit: Int
    private let socket: FD
    private let logger: Logger
    private let writeTimeoutMilliseconds: UInt32
    private let resolved = Locked<Target?>(nil)
    private static let datagramIDs = Atomic<UInt16>(UInt16(truncatingIfNeeded: UInt32(bitPattern: Sys.pid) &* 2_654_435_761))

    /// Where datagrams go: (address, source address) pairs and the NetBIOS destination.
    struct Target {
        var sends: [(destination: IPv4Address, source: IPv4Address)]
        var netbiosName: NetBIOSName
        var type: NetBIOSDatagramType
    }

    package init(_ name: MailslotName, configuration: MailslotConfiguration, writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) {
        let destination = name.destination(workgroup: configuration.workgroup)
        guard destination != .local else { preconditionFailure("NetworkWriter is for remote names") }
        self.name = name
        self.destination = destination
        self.configuration = configuration
        self.logger = logger
        self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
        self.dataLimit = MailslotWireLimits.remoteDataLimit(forMailslotName: name.wireName)
        do throws(Errno) {
            socket = try Sys.udpSocket()
            try Sys.setBroadcast(socket)
            try Sys.bind(socket, .any, 0)
        } catch {
            throw MailslotError.system("could not open a UDP socket for \(name)", error)
        }
    }

    deinit { Sys.close(socket) }

    /// Sends one message as one datagram (one per interface for a domain).
    ///
    /// - Throws: ERROR_BAD_NETPATH (53) when the message is larger than one datagram carries for this name
    ///   (nothing is sent), when the computer name cannot be resolved, or when no interface can reach it.
    package func write(_ data: [UInt8]) throws(MailslotError) {
        guard data.count <= dataLimit else {
            throw MailslotError(.badNetPath, "the message is \(data.count) bytes; a mailslot datagram to \(name) carries at most \(dataLimit) bytes (432 minus the name length after \\mailslot\\, rounded up to 4). Nothing was sent")
        }
        let target = try resolve()
        let source: NetBIOSName
        do throws(NetBIOSNameError) {
            source = try NetBIOSName(configuration.computerName, suffix: 0x00)
        } catch {
            throw MailslotError(.invalidParameter, "the configured computer name '\(configuration.computerName)' is not a NetBIOS name: \(error)")
        }
        let sourcePort = (try? Sys.localAddress(socket).1) ?? 0
        for send in target.sends {
            let id = NetworkWriter.datagramIDs.wrappingAdd(1, ordering: .relaxed).newValue
            let datagram: [UInt8]
            do throws(MailslotWireEncodeError) {
                datagram = try NetBIOSMailslotDatagram(messageType: target.type, datagramID: id, sourceIP: send.source.value,
                                                       sourcePort: sourcePort, sourceName: source, destinationName: target.netbiosName,
                                                       mailslotName: name.wireName, data: data).encoded()
            } catch {
                throw MailslotError(.badNetPath, "cannot encode a datagram for \(name): \(error)")
            }
            try sendDatagram(datagram, to: send.destination)
            logger.trace("mailslot datagram sent", metadata: ["to": "\(send.destination):\(configuration.port)",
                                                              "netbios": "\(target.netbiosName)", "bytes": "\(data.count)"])
        }
    }

    private func sendDatagram(_ bytes: [UInt8], to address: IPv4Address) throws(MailslotError) {
        let deadline = Deadline(milliseconds: writeTimeoutMilliseconds)
        while true {
            do throws(Errno) {
                if try Sys.sendTo(socket, bytes, address, configuration.port) { return }
            } catch {
                throw MailslotError(.badNetPath, "could not send to \(address):\(configuration.port) for \(name): \(error.message)", cause: error.cause)
            }
            let remaining = deadline.remainingMilliseconds
            if remaining == 0 {
                throw MailslotError(.semTimeout, "the network did not take the datagram for \(name) within \(writeTimeoutMilliseconds) ms")
            }
            _ = try? Sys.poll(socket, .writable, timeoutMilliseconds: Int32(clamping: remaining))
        }
    }

    // MARK: resolution

    private func resolve() throws(MailslotError) -> Target {
        if let target = resolved.withLock({ $0 }) { return target }
        let target = try lookUp()
        resolved.withLock { $0 = target }
        return target
    }

    private func lookUp() throws(MailslotError) -> Target {
        let interfaces = NetworkInterfaces.selected(configuration)
        switch destination {
        case .local:
            preconditionFailure()
        case .domain(let domain):
            return try domainTarget(domain, interfaces)
        case .computer(let computer):
            if let literal = IPv4Address(computer) {
                // No NetBIOS name is known for an address: address the wildcard name, which mailslotd accepts.
                return Target(sends: [(literal, NetworkInterfaces.source(for: literal, interfaces))],
                              netbiosName: try netbios("*", computer), type: .directUnique)
            }
            let netbiosName = try netbios(MailslotConfiguration.netbiosName(computer), computer)
            if let address = Sys.lookUpHost(computer).first {
                return Target(sends: [(address, NetworkInterfaces.source(for: address, interfaces))], netbiosName: netbiosName, type: .directUnique)
            }
            let resolver = NetBIOSResolver(configuration: configuration, interfaces: interfaces, logger: logger)
            guard let answer = resolver.query(netbiosName) else {
                throw MailslotError(.badNetPath, "cannot find the computer '\(computer)': it is not an IP address, /etc/hosts and DNS do not know it, and no machine answered a NetBIOS name query for \(netbiosName) on \(interfaces.map(\.name).joined(separator: ", ")). Nothing was sent")
            }
            if answer.isGroup { return try domainTarget(netbiosName.name, interfaces) }
            return Target(sends: [(answer.address, NetworkInterfaces.source(for: answer.address, interfaces))], netbiosName: netbiosName, type: .directUnique)
        }
    }

    private func domainTarget(_ domain: String, _ interfaces: [Sys.Interface]) throws(MailslotError) -> Target {
        let sends = interfaces.compactMap { i in i.broadcast.map { ($0, i.address) } }
        guard !sends.isEmpty else {
            throw MailslotError(.badNetPath, "no up, broadcast-capable IPv4 interface to send the domain datagram for \(name) on (configured: \(configuration.interfaces.isEmpty ? "all" : configuration.interfaces.joined(separator: ","))). Nothing was sent")
        }
        return Target(sends: sends, netbiosName: try netbios(domain, domain), type: .directGroup)
    }

    private func netbios(_ text: String, _ original: String) throws(MailslotError) -> NetBIOSName {
        do throws(NetBIOSNameError) {
            return try NetBIOSName(text, suffix: 0x00)
        } catch {
            throw MailslotError(.invalidName, "'\(original)' cannot be a NetBIOS name: \(error)")
        }
    }
}

/// The interfaces a writer or a name query uses.
package enum NetworkInterfaces {
    /// The configured interfaces (names or addresses), or every up, broadcast-capable, non-loopback IPv4 one.
    package static func selected(_ configuration: MailslotConfiguration) -> [Sys.Interface] {
        let all = Sys.interfaces().filter(\.isUp)
        if configuration.interfaces.isEmpty {
            return all.filter { !$0.isLoopback && $0.broadcast != nil }
        }
        return all.filter { i in configuration.interfaces.contains { $0 == i.name || IPv4Address($0) == i.address } }
    }

    /// The source address for a destination: the interface whose subnet holds it, else the route's.
    static func source(for destination: IPv4Address, _ interfaces: [Sys.Interface]) -> IPv4Address {
        if let i = interfaces.first(where: { $0.address.value & $0.netmask.value == destination.value & $0.netmask.value }) {
            return i.address
        }
        guard let probe = try? Sys.udpSocket() else { return .any }
        defer { Sys.close(probe) }
        guard (try? Sys.connect(probe, destination, 9)) != nil, let local = try? Sys.localAddress(probe) else { return .any }
        return local.0
    }
}

/// NetBIOS name resolution by broadcast query (RFC 1002 §4.2.12), as a B-node does it.
package struct NetBIOSResolver {
    let configuration: MailslotConfiguration
    let interfaces: [Sys.Interface]
    let logger: Logger

    package init(configuration: MailslotConfiguration, interfaces: [Sys.Interface], logger: Logger) {
        self.configuration = configuration
        self.interfaces = interfaces
        self.logger = logger
    }

    package struct Answer { package var address: IPv4Address; package var isGroup: Bool }

    /// Broadcasts a name query on every selected interface, three times within the resolve timeout, and
    /// returns the first positive answer.
    package func query(_ name: NetBIOSName) -> Answer? {
        guard let fd = try? Sys.udpSocket() else { return nil }
        defer { Sys.close(fd) }
        guard (try? Sys.setBroadcast(fd)) != nil, (try? Sys.bind(fd, .any, 0)) != nil else { return nil }
        let request = NameQueryRequest(transactionID: UInt16.random(in: 1...UInt16.max), name: name, broadcast: true)
        let bytes = request.encoded()
        let targets = interfaces.compactMap(\.broadcast)
        guard !targets.isEmpty else { return nil }
        let deadline = Deadline(milliseconds: configuration.resolveTimeoutMilliseconds)
        let retry = max(UInt32(1), configuration.resolveTimeoutMilliseconds / 3)
        var buffer = [UInt8](repeating: 0, count: 1500)
        while !deadline.passed {
            for target in targets { _ = try? Sys.sendTo(fd, bytes, target, configuration.namePort) }
            let round = Deadline(milliseconds: min(retry, deadline.remainingMilliseconds))
            while !round.passed {
                _ = try? Sys.poll(fd, .readable, timeoutMilliseconds: Int32(clamping: round.remainingMilliseconds))
                while let received = try? Sys.receiveFrom(fd, into: &buffer) {
                    guard received.count <= buffer.count,
                          let response = try? NameQueryResponse.decode(buffer[0..<received.count], matching: request),
                          let entry = response.entries.first(where: { $0.address != 0 }) else { continue }
                    logger.debug("NetBIOS name resolved", metadata: ["name": "\(name)", "address": "\(IPv4Address(entry.address))",
                                                                     "group": "\(entry.isGroup)", "answered_by": "\(received.address)"])
                    return Answer(address: IPv4Address(entry.address), isGroup: entry.isGroup)
                }
            }
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import MailslotCore

/// What the network gateway receives on, beside what the network writer sends with: the UDP sockets on
/// the datagram port (one per listen address), the NetBIOS name service socket, the stats endpoint and a
/// wake-up descriptor, all waited on in one poll. The gateway above keeps only policy (which datagrams
/// to accept and where they go); every system call of its receive side is here.
///
/// One thread (the receive loop) waits and receives; ``rebind(_:nameServicePort:)`` and ``wake()`` may be
/// called from any other thread. The socket set is the only state two threads share, behind one lock.
package final class GatewaySockets: Sendable {
    /// Why ``wait(also:timeoutMilliseconds:)`` returned, one entry per ready descriptor.
    package enum Ready: Equatable, Sendable {
        /// Datagrams wait on this UDP socket: receive them with ``receive(_:into:)``.
        case datagrams(FD)
        /// NetBIOS name queries wait: take them with ``nextNameQuery(into:)``.
        case nameQueries
        /// A client of the stats endpoint waits: answer with ``answerStatsClients(_:)``.
        case statsClients
        /// ``wake()`` was called (a stop, or a new socket set).
        case woken
        /// One of the caller's own descriptors is ready.
        case other(FD)
    }

    private struct Descriptors {
        var udp: [IPv4Address: FD]
        var names: FD?
        /// Taken out of service by ``rebind``; closed by the receive loop, which may be polling them.
        var retired: [FD] = []
    }

    package let port: UInt16
    /// Whether the datagram sockets drop the kernel's copies of what this host relays (``Sys/dropOwnRelays(_:port:)``).
    private let dropsOwnRelays: Bool
    private let descriptors: Locked<Descriptors>
    private let statsFD: FD
    private let wakeFD: FD
    private let statsAddress: [UInt8]

    /// Binds the datagram port at each of `addresses`, the stats endpoint at `statsAddress` and, when
    /// `nameServicePort` is given, the name service (its port taken by nmbd is logged, not fatal).
    /// With `dropOwnRelays` (a bridge runs: it delivers what it re-broadcasts into this host's mailslots
    /// itself) the datagram sockets never see the kernel's copy of a re-broadcast this host sent.
    /// Throws when the datagram port or the stats endpoint cannot be had.
    package init(addresses: [IPv4Address], port: UInt16, nameServicePort: UInt16?, statsAddress: [UInt8],
                 dropOwnRelays: Bool = false, logger: Logger) throws(MailslotError) {
        self.port = port
        self.statsAddress = statsAddress
        dropsOwnRelays = dropOwnRelays
        var bound: [IPv4Address: FD] = [:]
        var wake: FD = -1
        do throws(MailslotError) {
            for address in addresses { bound[address] = try GatewaySockets.datagramSocket(address, port: port, dropOwnRelays: dropOwnRelays) }
            do throws(Errno) { wake = try Sys.eventFD() } catch { throw MailslotError.system("could not create an eventfd", error) }
            do throws(Errno) {
                statsFD = try Sys.abstractStreamListener(statsAddress)
            } catch {
                throw GatewaySockets.statsEndpointTaken(statsAddress, port: port, error)
            }
        } catch {
            bound.values.forEach(Sys.close)
            if wake >= 0 { Sys.close(wake) }
            throw error
        }
        wakeFD = wake
        descriptors = Locked(Descriptors(udp: bound, names: nameServicePort.flatMap { GatewaySockets.nameServiceSocket(port: $0, logger: logger) }))
    }

    deinit {
        descriptors.withLock { d in
            (Array(d.udp.values) + d.retired + (d.names.map { [$0] } ?? [])).forEach(Sys.close)
        }
        Sys.close(statsFD)
        Sys.close(wakeFD)
    }

    /// The addresses the datagram port is bound at.
    package var listening: [IPv4Address] { descriptors.withLock { Array($0.udp.keys) }.sorted { $0.value < $1.value } }
    /// Whether name queries are answered (the name service port could be bound).
    package var answersNameQueries: Bool { descriptors.withLock { $0.names != nil } }

    /// Moves to a new set of listen addresses, keeping the sockets (and the datagrams waiting in them) of
    /// the addresses that stay. New sockets are bound before anything changes: when one cannot be, this
    /// throws and the old set stays in force. `nameServicePort` nil turns the name service off; a port
    /// equal to the current one keeps its socket.
    package func rebind(_ addresses: [IPv4Address], nameServicePort: UInt16?, currentNameServicePort: UInt16?,
                        logger: Logger) throws(MailslotError) {
        let current = descriptors.withLock { Set($0.udp.keys) }
        var opened: [IPv4Address: FD] = [:]
        do throws(MailslotError) {
            for address in addresses where !current.contains(address) {
                opened[address] = try GatewaySockets.datagramSocket(address, port: port, dropOwnRelays: dropsOwnRelays)
            }
        } catch {
            opened.values.forEach(Sys.close)
            throw error
        }
        let newNames: FD?? = nameServicePort == currentNameServicePort
            ? .none : .some(nameServicePort.flatMap { GatewaySockets.nameServiceSocket(port: $0, logger: logger) })
        descriptors.withLock { d in
            for (address, fd) in d.udp where !addresses.contains(address) {
                d.udp[address] = nil
                d.retired.append(fd)
            }
            d.udp.merge(opened) { $1 }
            if case .some(let names) = newNames {
                if let old = d.names { d.retired.append(old) }
                d.names = names
            }
        }
        wake() // the loop picks up the new set
    }

    /// Makes the waiting loop return with ``Ready/woken`` (from any thread or a signal handler's task).
    package func wake() { Sys.signalEventFD(wakeFD) }

    /// Waits until one of the sockets, or one of `also`, is readable, or `timeoutMilliseconds` pass
    /// (-1: no limit). Closes the descriptors a ``rebind`` retired first.
    package func wait(also: [FD], timeoutMilliseconds: Int32) -> [Ready] {
        let (udp, names) = descriptors.withLock { d -> ([FD], FD?) in
            d.retired.forEach(Sys.close)
            d.retired.removeAll()
            return (Array(d.udp.values), d.names)
        }
        var fds = udp + [wakeFD, statsFD] + also
        if let names { fds.append(names) }
        return Sys.pollMany(fds, timeoutMilliseconds: timeoutMilliseconds).map { fd in
            switch fd {
            case wakeFD:
                Sys.drainEventFD(wakeFD)
                return .woken
            case statsFD: return .statsClients
            case names: return .nameQueries
            default: return udp.contains(fd) ? .datagrams(fd) : .other(fd)
            }
        }
    }

    /// Receives what waits on a datagram socket into `batch`; returns how many datagrams (0: none).
    package func receive(_ fd: FD, into batch: Sys.DatagramBatch) throws(Errno) -> Int { try batch.receive(fd) }

    /// The next NetBIOS name service packet waiting, with its sender; nil when none waits.
    package func nextNameQuery(into buffer: inout [UInt8]) -> (count: Int, address: IPv4Address, port: UInt16)? {
        guard let fd = descriptors.withLock({ $0.names }) else { return nil }
        return try? Sys.receiveFrom(fd, into: &buffer)
    }

    /// Sends a name service answer (best effort: a full socket buffer drops it, as UDP would).
    package func answerNameQuery(_ reply: [UInt8], to address: IPv4Address, port: UInt16) {
        guard let fd = descriptors.withLock({ $0.names }) else { return }
        _ = try? Sys.sendTo(fd, reply, address, port)
    }

    /// Sends a datagram from the datagram port (from the socket bound to `source` when there is one, else
    /// any), as Windows and nmbd do: for the bridge, re-broadcasting on this LAN what another site carried.
    /// Best effort, as UDP is: false when it could not be sent.
    @discardableResult
    package func sendDatagram(_ bytes: [UInt8], to address: IPv4Address, port: UInt16, from source: IPv4Address? = nil) -> Bool {
        guard let fd = socket(from: source) else { return false }
        return (try? Sys.sendTo(fd, bytes, address, port)) ?? false
    }

    /// Sends `datagrams` in one system call, as ``sendDatagram(_:to:port:from:)`` sends one; returns how
    /// many were sent (the first ones).
    package func sendDatagrams(_ datagrams: Sys.OutgoingDatagrams, to address: IPv4Address, port: UInt16, from source: IPv4Address? = nil) -> Int {
        guard let fd = socket(from: source) else { return 0 }
        return (try? Sys.sendBatch(fd, datagrams, to: address, port)) ?? 0
    }

    /// The socket to send from: the one bound to `source`, else the one bound to any address, else any.
    private func socket(from source: IPv4Address?) -> FD? {
        descriptors.withLock { d in source.flatMap { d.udp[$0] } ?? d.udp[.any] ?? d.udp.values.first }
    }

    /// Writes `text` to every client waiting on the stats endpoint and hangs up on each.
    package func answerStatsClients(_ text: String) {
        while let client = try? Sys.accept(statsFD) {
            Sys.writeAll(client, Array(text.utf8))
            Sys.close(client)
        }
    }

    /// This machine's IPv4 interfaces (for answering name queries with the address on the querier's subnet).
    package static func interfaces() -> [Sys.Interface] { Sys.interfaces() }

    /// The addresses to listen on for the configured interfaces: none configured means all (0.0.0.0). A
    /// socket bound to one unicast address does not see broadcasts, so each bound address's subnet
    /// broadcast address is bound too.
    package static func listenAddresses(_ interfaces: [String]) throws(MailslotError) -> [IPv4Address] {
        guard !interfaces.isEmpty else { return [.any] }
        let present = Sys.interfaces()
        var addresses: [IPv4Address] = []
        for entry in interfaces {
            let address: IPv4Address
            if let literal = IPv4Address(entry) {
                address = literal
            } else if let named = present.first(where: { $0.name == entry }) {
                address = named.address
            } else {
                throw MailslotError(.invalidParameter, "no IPv4 interface named '\(entry)' (interfaces: \(Set(present.map(\.name)).sorted().joined(separator: ", "))); give an interface name or an IPv4 address")
            }
            if !addresses.contains(address) { addresses.append(address) }
            if let b = present.first(where: { $0.address == address })?.broadcast, !addresses.contains(b) { addresses.append(b) }
        }
        return addresses
    }

    private static func datagramSocket(_ address: IPv4Address, port: UInt16, dropOwnRelays: Bool) throws(MailslotError) -> FD {
        let fd: FD
        do throws(Errno) {
            // Room for bursts (browser elections, many hosts answering at once).
            fd = try Sys.udpListener(address, port, receiveBuffer: 4 << 20)
        } catch {
            throw MailslotError(error, .listenUDP(port: port, address: address))
        }
        guard dropOwnRelays else { return fd }
        do throws(Errno) { try Sys.dropOwnRelays(fd, port: port) } catch {
            Sys.close(fd)
            throw MailslotError.system("could not filter the bridge's own re-broadcasts from UDP port \(port) at \(address)", error)
        }
        return fd
    }

    private static func nameServiceSocket(port: UInt16, logger: Logger) -> FD? {
        do throws(Errno) {
            let fd = try Sys.udpSocket()
            do throws(Errno) {
                try Sys.setBroadcast(fd)
                try Sys.bind(fd, .any, port)
            } catch {
                Sys.close(fd)
                throw error
            }
            return fd
        } catch {
            logger.warning("not answering NetBIOS name queries: UDP port \(port) is not available (\(error.message)); another name server such as nmbd may own it")
            return nil
        }
    }

    /// Why the stats endpoint could not be opened: most likely another process holds its name.
    private static func statsEndpointTaken(_ address: [UInt8], port: UInt16, _ error: Errno) -> MailslotError {
        guard error.code == Errno.addressInUse else {
            return MailslotError.system("could not open the stats endpoint for port \(port)", error)
        }
        var holder = "another process"
        if let fd = try? Sys.unixStreamSocket() {
            if (try? Sys.connectAbstract(fd, address)) != nil, let peer = try? Sys.peerCredentials(fd) {
                holder = "pid \(peer.pid) (uid \(peer.uid))"
            }
            Sys.close(fd)
        }
        return MailslotError(.alreadyExists, "the stats endpoint for port \(port) (the abstract socket @\(String(decoding: address, as: UTF8.self))) is held by \(holder): another mailslotd runs for this port, or another program took the name; stop it, then start mailslotd again", cause: error.cause)
    }

    /// The users whose stats endpoint a reader believes: root, the caller, and the service user.
    private static var trustedStatsUIDs: Set<UInt32> {
        var uids: Set<UInt32> = [0, Sys.euid]
        if let service = Sys.user(named: "mailslot") { uids.insert(service.uid) }
        return uids
    }

    /// Reads what the stats endpoint at `address` answers. Its owner is checked with the kernel's
    /// credentials: a squatter's answer is refused.
    package static func readStats(_ address: [UInt8], port: UInt16) throws(MailslotError) -> String {
        var impostor: Sys.PeerCredentials?
        do throws(Errno) {
            let trusted = trustedStatsUIDs
            let bytes = try Sys.readAbstractStream(address) { peer in
                if trusted.contains(peer.uid) { return true }
                impostor = peer
                return false
            }
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            if let impostor {
                throw MailslotError(.accessDenied, "the stats endpoint for port \(port) is held by pid \(impostor.pid) of uid \(impostor.uid), not by root, this user or the mailslot service user: it is not mailslotd, and its numbers are not shown")
            }
            throw MailslotError(.fileNotFound, "no mailslotd is running for port \(port) in this network namespace", cause: error.cause)
        }
    }
}

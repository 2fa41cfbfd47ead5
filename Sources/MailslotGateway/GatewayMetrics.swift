import Metrics
import MailslotTransport

/// The gateway's metrics, through swift-metrics: whatever backend the process bootstraps (mailslotd
/// bootstraps swift-prometheus) receives them; without one they cost nothing.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `mailslotd_datagrams_received_total` | counter | |
/// | `mailslotd_datagrams_delivered_total` | counter | |
/// | `mailslotd_datagrams_dropped_total` | counter | `reason` (``Gateway/DropReason``) |
/// | `mailslotd_name_queries_answered_total` | counter | |
/// | `mailslotd_delivery_duration_seconds` | histogram | from the receive batch to the write into the mailslot |
/// | `mailslotd_writer_connections` | gauge | open connections to local mailslots |
public struct GatewayMetrics: Sendable {
    /// Each metric's help text (the `# HELP` line), for backends that publish one.
    public static let help: [String: String] = [
        "mailslotd_datagrams_received_total": "Datagrams received on the NetBIOS datagram port.",
        "mailslotd_datagrams_delivered_total": "Datagrams whose message was written into a local mailslot.",
        "mailslotd_datagrams_dropped_total": "Datagrams not delivered, by reason.",
        "mailslotd_name_queries_answered_total": "NetBIOS name queries for this machine's names that were answered.",
        "mailslotd_delivery_duration_seconds": "Time from receiving a datagram to writing its message into the mailslot.",
        "mailslotd_writer_connections": "Open connections from the gateway to local mailslots.",
    ]

    let received = Counter(label: "mailslotd_datagrams_received_total")
    let delivered = Counter(label: "mailslotd_datagrams_delivered_total")
    let nameQueriesAnswered = Counter(label: "mailslotd_name_queries_answered_total")
    let deliveryLatency = Timer(label: "mailslotd_delivery_duration_seconds")
    let writerConnections = Gauge(label: "mailslotd_writer_connections")

    static let droppedLabel = "mailslotd_datagrams_dropped_total"

    private let droppedCounters = DropCounters(label: GatewayMetrics.droppedLabel)

    /// The drop counter for one reason.
    func dropped(_ reason: Gateway.DropReason) -> Counter { droppedCounters[reason.description] }
}

/// The bridge's metrics, beside the gateway's (same backend).
///
/// | metric | type | labels |
/// |---|---|---|
/// | `mailslotd_bridge_published_total` | counter | domain writes of this LAN published to NATS |
/// | `mailslotd_bridge_forwarded_total` | counter | writes to computers at other sites published to NATS |
/// | `mailslotd_bridge_received_total` | counter | messages received from NATS |
/// | `mailslotd_bridge_rebroadcast_total` | counter | messages from other sites sent on this LAN (and to this host's mailslots) |
/// | `mailslotd_bridge_dropped_total` | counter | `reason` |
/// | `mailslotd_bridge_connected` | gauge | 1 while connected to NATS |
public struct BridgeMetrics: Sendable {
    public static let help: [String: String] = [
        "mailslotd_bridge_published_total": "Domain writes seen on this LAN and published to the other sites.",
        "mailslotd_bridge_forwarded_total": "Writes to computers at other sites, published to their site.",
        "mailslotd_bridge_received_total": "Messages received from the other sites.",
        "mailslotd_bridge_rebroadcast_total": "Messages from other sites sent on this LAN and to this host's mailslots.",
        "mailslotd_bridge_dropped_total": "Bridge messages not forwarded or not delivered, by reason.",
        "mailslotd_bridge_connected": "1 while the bridge is connected to NATS, else 0.",
    ]

    let published = Counter(label: "mailslotd_bridge_published_total")
    let forwarded = Counter(label: "mailslotd_bridge_forwarded_total")
    let received = Counter(label: "mailslotd_bridge_received_total")
    let rebroadcast = Counter(label: "mailslotd_bridge_rebroadcast_total")
    let connected = Gauge(label: "mailslotd_bridge_connected")

    private let droppedCounters = DropCounters(label: "mailslotd_bridge_dropped_total")

    func dropped(_ reason: String) -> Counter { droppedCounters[reason] }
}

/// The counters of one metric with a `reason` label, made once per reason and kept: making a counter
/// asks the metrics backend for it (behind its lock) each time, which costs more than a datagram's
/// decoding, and drops come a datagram at a time.
final class DropCounters: Sendable {
    private let label: String
    private let counters = Locked<[String: Counter]>([:])
    /// Reasons are a fixed set but for the decoder's (a few dozen): more than this is not expected, and
    /// is served without keeping.
    static let limit = 256

    init(label: String) { self.label = label }

    subscript(reason: String) -> Counter {
        if let known = counters.withLock({ $0[reason] }) { return known }
        let made = Counter(label: label, dimensions: [("reason", reason)])
        counters.withLock { if $0.count < DropCounters.limit { $0[reason] = made } }
        return made
    }
}

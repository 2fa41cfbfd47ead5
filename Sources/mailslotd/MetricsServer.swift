import Logging
import Mailslot
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Serves the Prometheus text format at `GET /metrics` (SwiftNIO's HTTP/1 codec; swift-prometheus renders
/// the registry). Any other path answers 404.
final class MetricsServer: Service, @unchecked Sendable {
    let host: String
    let port: Int
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    // Set once by start(), before the service group runs; read by run().
    private var group: MultiThreadedEventLoopGroup?
    private var channel: Channel?

    /// Checks the address; nothing is bound and no thread starts until ``start()``.
    init(address: String, registry: PrometheusCollectorRegistry, logger: Logger) throws(MailslotError) {
        guard let (host, port) = MailslotConfiguration.hostAndPort(address) else {
            throw MailslotError(.invalidParameter, "--metrics '\(address)' is not ADDRESS:PORT (for example 127.0.0.1:9138)")
        }
        self.host = host
        self.port = Int(port)
        self.registry = registry
        self.logger = logger
    }

    /// Binds the HTTP listener (one event-loop thread).
    func start() throws(MailslotError) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = self.registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(registry: registry))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
            self.group = group
        } catch {
            try? group.syncShutdownGracefully()
            throw MailslotError(.accessDenied, "cannot serve metrics on \(host):\(port): \(error)")
        }
        logger.info("serving Prometheus metrics", metadata: ["url": "http://\(host):\(port)/metrics"])
    }

    func run() async throws {
        try? await gracefulShutdown()
        try? await channel?.close()
        try? await group?.shutdownGracefully()
    }
}

/// One request at a time per connection; the registry renders itself on each scrape.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            respond(to: request, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let status: HTTPResponseStatus
        let body: [UInt8]
        var headers = HTTPHeaders()
        if request.method == .GET && path == "/metrics" {
            status = .ok
            body = registry.emitToBuffer()
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        } else {
            status = .notFound
            body = Array("not found: the metrics are at GET /metrics\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

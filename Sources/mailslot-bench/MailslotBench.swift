// The mailslot-bench tool: benchmarks of this library against the Linux mechanisms a user would
// otherwise reach for. Each benchmark is a subcommand in its own file; shared helpers live in
// Support.swift, the local mechanisms in Mechanisms.swift, the child processes in Children.swift.
import ArgumentParser

@main
struct MailslotBench: ParsableCommand {
    /// The benchmarks, in the order `--help` lists them. A new benchmark adds its type here.
    static let benchmarks: [ParsableCommand.Type] = [Local.self, Network.self, Files.self, BridgeBench.self]

    /// What the benchmarks run in child processes (this binary, re-executed); hidden from `--help`.
    static let internalCommands: [ParsableCommand.Type] = [WriterChild.self, EchoChild.self, MemoryServerChild.self, IdleReaderChild.self,
                                                                   UDPSenderChild.self, FileWriterChild.self, FileEchoChild.self,
                                                                   BridgeWriterChild.self, NatsPublisherChild.self, FloorRelayChild.self]

    static let configuration = CommandConfiguration(
        commandName: "mailslot-bench",
        abstract: "Benchmarks of mailslots against the Linux mechanisms they replace.",
        discussion: "Build with -c release; results from a debug build mean nothing.",
        subcommands: benchmarks + internalCommands
    )
}

import ArgumentParser

/// `adapter-serve rouge`: the former name of `score`, kept as an alias. It defaults to ROUGE only,
/// so its output is unchanged for scripts written against it; `--metrics rouge,bleu` adds BLEU.
public struct RougeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rouge",
        abstract: "Alias of `score` with --metrics rouge by default.",
        discussion: "See `adapter-serve score --help`.")

    @OptionGroup var options: ScoreOptions

    public init() {}

    public func run() throws { try options.run(defaultMetrics: "rouge") }
}

import ArgumentParser

/// adapter-serve: one frozen FLAN-T5 on CPU serving many PEFT adapters.
struct AdapterServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter-serve",
        abstract: "Serve one frozen FLAN-T5 with many PEFT adapters (LoRA, soft prompts) on CPU.",
        subcommands: [ServeCommand.self, GenerateCommand.self, TokenizeCommand.self, EvalCommand.self,
                      ScoreCommand.self, RougeCommand.self, MergeCommand.self, BenchCommand.self, BenchKernelsCommand.self, PrefillGapCommand.self, WeightErrorCommand.self, MakeRandomModelCommand.self,
                      PullCommand.self, HealthcheckCommand.self])
}

AdapterServe.main()
